using System.IO.Hashing;
using System.Runtime.Serialization;
using Akka.Actor;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Serialization;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// Reassembles chunk trains, one in flight per sender (Akka keeps per-sender order), checks length and
/// CRC-32 before deserializing, and turns a lost, reordered, corrupted, foreign or abandoned train into a
/// <see cref="TransferFailed"/> instead of ever applying partial data. Only <see cref="PapaSerializer"/> messages of
/// known manifests are accepted, and nothing is allocated for a message before its bytes have come: a train is kept
/// as its chunks' own arrays until it is whole, so a header announcing gigabytes costs nothing.
/// </summary>
public sealed class ChunkAssembler(PapaSerializer serializer, long maxMessageBytes, TimeSpan timeout, TimeProvider clock)
{
    private sealed class Pending(MessageChunk first, long now)
    {
        public MessageChunk First { get; } = first;
        public List<byte[]> Parts { get; } = [];
        public Crc32 Checksum { get; } = new();
        public long Received { get; set; }
        public long LastChunkAt { get; set; } = now;
    }

    private readonly Dictionary<IActorRef, Pending> _pending = [];
    private readonly Dictionary<IActorRef, long> _failed = [];

    /// <summary>A transfer is under way: <see cref="Expire"/> should run within the timeout.</summary>
    public bool HasPending => _pending.Count > 0;

    /// <summary>What to deliver now: nothing (more chunks to come), the whole message, and/or failures.</summary>
    public IReadOnlyList<object> Accept(MessageChunk chunk, IActorRef sender)
    {
        var delivered = new List<object>();
        _pending.TryGetValue(sender, out var pending);
        if (chunk.Index == 0)
        {
            if (pending is not null)
                delivered.Add(Fail(sender, pending.First.TransferId, $"abandoned after {pending.Parts.Count} of {pending.First.Count} chunks: a new transfer began, so chunks were lost"));
            if (Refusal(chunk) is { } refusal)
            {
                delivered.Add(Fail(sender, chunk.TransferId, refusal));
                return delivered;
            }
            pending = new Pending(chunk, clock.GetTimestamp());
            _pending[sender] = pending;
        }
        else if (pending is null && _failed.TryGetValue(sender, out var failedId) && failedId == chunk.TransferId)
        {
            return delivered; // the rest of a transfer already reported as failed
        }
        else if (pending is null || pending.First.TransferId != chunk.TransferId || pending.Parts.Count != chunk.Index)
        {
            var expected = pending is null ? "the first chunk of a transfer" : $"chunk {pending.Parts.Count} of transfer {pending.First.TransferId}";
            delivered.Add(Fail(sender, chunk.TransferId, $"chunk {chunk.Index} arrived where {expected} was due: a chunk was lost"));
            return delivered;
        }

        if (pending.Received + chunk.Data.Length > pending.First.TotalBytes)
        {
            delivered.Add(Fail(sender, chunk.TransferId, $"chunks exceed the announced {pending.First.TotalBytes} bytes"));
            return delivered;
        }
        pending.Parts.Add(chunk.Data);
        pending.Checksum.Append(chunk.Data);
        pending.Received += chunk.Data.Length;
        pending.LastChunkAt = clock.GetTimestamp();
        if (pending.Parts.Count < pending.First.Count)
            return delivered;

        _pending.Remove(sender);
        delivered.Add(Whole(pending, sender));
        return delivered;
    }

    /// <summary>Drops the transfers whose next chunk is overdue (`papa.transfer.timeout`), reporting each.</summary>
    public IReadOnlyList<TransferFailed> Expire()
    {
        var overdue = _pending.Where(p => clock.GetElapsedTime(p.Value.LastChunkAt) > timeout).ToList();
        return overdue.Select(p => Fail(p.Key, p.Value.First.TransferId,
            $"no chunk for {timeout.TotalSeconds:0.###} s after {p.Value.Parts.Count} of {p.Value.First.Count} (papa.transfer.timeout)")).ToList();
    }

    /// <summary>Drops the transfers of senders that are <paramref name="gone"/> (stopped, or their node left), reporting each.</summary>
    public IReadOnlyList<TransferFailed> Forget(Func<IActorRef, bool> gone, string why)
    {
        var lost = _pending.Where(p => gone(p.Key)).ToList();
        foreach (var sender in _failed.Keys.Where(gone).ToList())
            _failed.Remove(sender);
        return lost.Select(p => Fail(p.Key, p.Value.First.TransferId, $"{why} after {p.Value.Parts.Count} of {p.Value.First.Count} chunks")).ToList();
    }

    /// <summary>Why the first chunk of a train is refused (checked before anything is kept), or null.</summary>
    private string? Refusal(MessageChunk first)
    {
        if (first.SerializerId != PapaSerializer.Id)
            return $"serializer id {first.SerializerId} refused: chunks carry PapaSerializer ({PapaSerializer.Id}) messages only";
        if (!PapaSerializer.IsKnownManifest(first.Manifest))
            return $"unknown manifest '{first.Manifest}' refused: chunks carry PapaSerializer messages only";
        if (first.TotalBytes > maxMessageBytes)
            return $"a {first.TotalBytes}-byte message announced, more than papa.transfer.max-message-bytes ({maxMessageBytes})";
        if (first.TotalBytes < 0 || first.Count < 1 || first.Count - 1 > first.TotalBytes)
            return $"impossible header ({first.TotalBytes} bytes in {first.Count} chunks)";
        return null;
    }

    private object Whole(Pending pending, IActorRef sender)
    {
        var first = pending.First;
        if (pending.Received != first.TotalBytes)
            return Fail(sender, first.TransferId, $"received {pending.Received} of {first.TotalBytes} bytes");
        if (pending.Checksum.GetCurrentHashAsUInt32() != first.Checksum)
            return Fail(sender, first.TransferId, "checksum mismatch: the data was corrupted on the way");
        var bytes = new byte[pending.Received];
        var offset = 0;
        foreach (var part in pending.Parts)
        {
            part.CopyTo(bytes, offset);
            offset += part.Length;
        }
        try
        {
            return serializer.FromBinary(bytes, first.Manifest);
        }
        catch (SerializationException e)
        {
            return Fail(sender, first.TransferId, $"the '{first.Manifest}' message cannot be read: {e.Message}");
        }
    }

    private TransferFailed Fail(IActorRef sender, long transferId, string reason)
    {
        _pending.Remove(sender);
        _failed[sender] = transferId;
        return new TransferFailed(sender.Path.ToString(), transferId, reason);
    }
}
