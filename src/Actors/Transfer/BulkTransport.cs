using System.IO.Hashing;
using Akka.Actor;
using Akka.Serialization;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// Sends messages that may be larger than Akka.Remote's frame (weights, logits) to remote actors as a
/// train of <see cref="MessageChunk"/>s of at most `papa.transfer.chunk-bytes`, each a separate Akka
/// message, so a 40 MB snapshot never blocks heartbeats or hits maximum-frame-size. Local actors get the
/// message itself: in one process nothing is serialized or copied.
/// </summary>
public sealed class BulkTransport : IExtension
{
    private const string ChunkBytesKey = "transfer.chunk-bytes";
    private readonly ExtendedActorSystem _system;
    private long _nextTransferId;

    public BulkTransport(ExtendedActorSystem system)
    {
        _system = system;
        var config = system.Settings.Config;
        ChunkBytes = (int)new SettingsReader(config.WithFallback(PapaConfig.Defaults)).ByteSize(ChunkBytesKey, 1024, 64 << 20);
        const string frameKey = "akka.remote.dot-netty.tcp.maximum-frame-size";
        if (config.HasPath(frameKey) && ChunkBytes + ChunkOverheadBytes > config.GetByteSize(frameKey))
            throw new ConfigException(
                $"'papa.{ChunkBytesKey}' ({ChunkBytes}) plus {ChunkOverheadBytes} bytes of envelope must fit in '{frameKey}' ({config.GetByteSize(frameKey)})");
        _nextTransferId = Random.Shared.NextInt64(1, long.MaxValue / 2);
    }

    /// <summary>Room left in a frame for Akka's envelope and the chunk header (paths, manifest, counters).</summary>
    public const int ChunkOverheadBytes = 4096;

    public int ChunkBytes { get; }

    public static BulkTransport For(ActorSystem system) => system.WithExtension<BulkTransport, BulkTransportProvider>();

    public void Send(IActorRef target, object message, IActorRef sender)
    {
        if (target is IInternalActorRef { IsLocal: true })
        {
            target.Tell(message, sender);
            return;
        }
        foreach (var chunk in Split(message))
            target.Tell(chunk, sender);
    }

    /// <summary>Serializes <paramref name="message"/> and cuts it into chunks that carry its checksum.</summary>
    public IReadOnlyList<MessageChunk> Split(object message)
    {
        var serializer = _system.Serialization.FindSerializerFor(message);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var bytes = serializer.ToBinary(message);
        var checksum = Crc32.HashToUInt32(bytes);
        var count = Math.Max(1, (bytes.Length + ChunkBytes - 1) / ChunkBytes);
        var id = Interlocked.Increment(ref _nextTransferId);
        return Enumerable.Range(0, count)
            .Select(i => new MessageChunk(id, i, count, bytes.Length, checksum, serializer.Identifier, manifest,
                bytes.AsSpan(i * ChunkBytes, Math.Min(ChunkBytes, bytes.Length - i * ChunkBytes)).ToArray()))
            .ToList();
    }

    public ChunkAssembler CreateAssembler() => new(_system.Serialization);
}

public sealed class BulkTransportProvider : ExtensionIdProvider<BulkTransport>
{
    public override BulkTransport CreateExtension(ExtendedActorSystem system) => new(system);
}

/// <summary>
/// Reassembles chunk trains, one in flight per sender (Akka keeps per-sender order), checks length and
/// CRC-32 before deserializing, and turns a lost, reordered or corrupted chunk into a
/// <see cref="TransferFailed"/> instead of ever applying partial data.
/// </summary>
public sealed class ChunkAssembler(Akka.Serialization.Serialization serialization)
{
    private sealed class Pending(MessageChunk first)
    {
        public MessageChunk First { get; } = first;
        public byte[] Buffer { get; } = new byte[first.TotalBytes];
        public long Written { get; set; }
        public int NextIndex { get; set; }
    }

    private readonly Dictionary<IActorRef, Pending> _pending = [];
    private readonly Dictionary<IActorRef, long> _failed = [];

    /// <summary>What to deliver now: nothing (more chunks to come), the whole message, and/or failures.</summary>
    public IReadOnlyList<object> Accept(MessageChunk chunk, IActorRef sender)
    {
        var delivered = new List<object>();
        _pending.TryGetValue(sender, out var pending);
        if (chunk.Index == 0)
        {
            if (pending is not null)
                delivered.Add(Fail(sender, pending.First.TransferId, $"abandoned after {pending.NextIndex} of {pending.First.Count} chunks: a new transfer began, so chunks were lost"));
            if (chunk.TotalBytes < 0 || chunk.TotalBytes > Array.MaxLength || chunk.Count < 1)
            {
                delivered.Add(Fail(sender, chunk.TransferId, $"impossible header ({chunk.TotalBytes} bytes in {chunk.Count} chunks)"));
                return delivered;
            }
            pending = new Pending(chunk);
            _pending[sender] = pending;
        }
        else if (pending is null && _failed.TryGetValue(sender, out var failedId) && failedId == chunk.TransferId)
        {
            return delivered; // the rest of a transfer already reported as failed
        }
        else if (pending is null || pending.First.TransferId != chunk.TransferId || pending.NextIndex != chunk.Index)
        {
            var expected = pending is null ? "the first chunk of a transfer" : $"chunk {pending.NextIndex} of transfer {pending.First.TransferId}";
            delivered.Add(Fail(sender, chunk.TransferId, $"chunk {chunk.Index} arrived where {expected} was due: a chunk was lost"));
            return delivered;
        }

        if (pending.Written + chunk.Data.Length > pending.Buffer.Length)
        {
            delivered.Add(Fail(sender, chunk.TransferId, $"chunks exceed the announced {pending.Buffer.Length} bytes"));
            return delivered;
        }
        chunk.Data.CopyTo(pending.Buffer, pending.Written);
        pending.Written += chunk.Data.Length;
        pending.NextIndex++;
        if (pending.NextIndex < pending.First.Count)
            return delivered;

        _pending.Remove(sender);
        if (pending.Written != pending.Buffer.Length)
            delivered.Add(Fail(sender, chunk.TransferId, $"received {pending.Written} of {pending.Buffer.Length} bytes"));
        else if (Crc32.HashToUInt32(pending.Buffer) != pending.First.Checksum)
            delivered.Add(Fail(sender, chunk.TransferId, "checksum mismatch: the data was corrupted on the way"));
        else
            delivered.Add(serialization.Deserialize(pending.Buffer, pending.First.SerializerId, pending.First.Manifest));
        return delivered;
    }

    private TransferFailed Fail(IActorRef sender, long transferId, string reason)
    {
        _pending.Remove(sender);
        _failed[sender] = transferId;
        return new TransferFailed(sender.Path.ToString(), transferId, reason);
    }
}

/// <summary>A chunked message that could not be reassembled; delivered to the receiving actor in its place.</summary>
public sealed record TransferFailed(string From, long TransferId, string Reason) : INoSerializationVerificationNeeded;

/// <summary>An actor that may receive chunked messages: each complete message is handled in place, in order.</summary>
public abstract class BulkReceivingActor : ReceiveActor
{
    private ChunkAssembler? _assembler;

    protected override bool AroundReceive(Receive receive, object message)
    {
        if (message is not MessageChunk chunk)
            return base.AroundReceive(receive, message);
        _assembler ??= BulkTransport.For(Context.System).CreateAssembler();
        foreach (var whole in _assembler.Accept(chunk, Sender))
        {
            if (!base.AroundReceive(receive, whole))
                Unhandled(whole);
        }
        return true;
    }
}
