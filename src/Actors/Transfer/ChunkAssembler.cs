using System.IO.Hashing;
using Akka.Actor;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// Reassembles chunk trains, one in flight per sender (Akka keeps per-sender order), checks length and
/// CRC-32 before deserializing, and turns a lost, reordered or corrupted chunk into a
/// <see cref="TransferFailed"/> instead of ever applying partial data.
/// </summary>
public sealed class ChunkAssembler(Akka.Serialization.Serialization serialization, long maxMessageBytes)
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
            if (chunk.TotalBytes > maxMessageBytes)
            {
                delivered.Add(Fail(sender, chunk.TransferId, $"a {chunk.TotalBytes}-byte message announced, more than papa.transfer.max-message-bytes ({maxMessageBytes})"));
                return delivered;
            }
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
