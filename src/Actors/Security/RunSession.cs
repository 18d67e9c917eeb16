using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Serialization;

namespace PapaActors.Actors.Security;

/// <summary>
/// A node's part of a run with a secret: the run's session key (<see cref="RunSecret.Session"/>), with which every
/// message between the run's nodes is <see cref="Sealed"/>, and what this node's actors have already accepted.
/// A seal is an HMAC-SHA256 over the sending actor, the receiving actor (full paths, node addresses included), a
/// sequence number and the message's PapaSerializer bytes: a stranger can neither make one nor move one to another
/// sender or receiver, and a copy of one already taken is refused (<see cref="Open"/>). Shared by the actors of one
/// node, so a restarted actor still refuses what its predecessor took.
/// </summary>
public sealed class RunSession
{
    private readonly byte[] _key;
    private readonly Address _node;
    // Starts at the clock, so a node restarted on the same address keeps counting up.
    private long _sequence = DateTime.UtcNow.Ticks;
    /// <summary>The last sequence number each receiving actor took from each sender (only senders that hold the key).</summary>
    private readonly ConcurrentDictionary<(string From, string To), long> _taken = new();

    internal RunSession(byte[] key, Address node)
    {
        _key = key;
        _node = node;
    }

    /// <summary>The next sequence number of this node; numbers taken in one actor's receive rise in its send order.</summary>
    public long NextSequence() => Interlocked.Increment(ref _sequence);

    /// <summary><paramref name="message"/> sealed from <paramref name="from"/> (an actor of this node) to <paramref name="to"/>.</summary>
    public Sealed Seal(IPapaMessage message, IActorRef from, IActorRef to, long? sequence = null)
    {
        var number = sequence ?? NextSequence();
        return new Sealed(number, message, Convert.ToHexString(Mac(FullPath(from), FullPath(to), number, message)));
    }

    /// <summary>
    /// Whether <paramref name="message"/>, as it came to <paramref name="receiver"/> from <paramref name="sender"/>, is
    /// of the run: a seal of this key for exactly these two actors, with a sequence number above any they took before.
    /// </summary>
    public bool Open(Sealed message, IActorRef sender, IActorRef receiver)
    {
        if (message.Opened)
            return true; // the same object again: stashed by its receiver after it was opened
        var (from, to) = (FullPath(sender), FullPath(receiver));
        var expected = Mac(from, to, message.Sequence, message.Message);
        if (message.Mac.Length != 2 * expected.Length
            || !CryptographicOperations.FixedTimeEquals(expected, Convert.FromHexString(message.Mac)))
            return false;
        var pair = (from, to);
        if (_taken.TryGetValue(pair, out var last) && message.Sequence <= last)
            return false; // a replay
        _taken[pair] = message.Sequence;
        return message.Opened = true;
    }

    private byte[] Mac(string from, string to, long sequence, IPapaMessage message)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        hmac.AppendData(Encoding.UTF8.GetBytes($"{from}\n{to}\n{sequence}\n{PapaSerializer.ManifestOf(message)}\n"));
        using (var stream = new HashingStream(hmac))
            PapaSerializer.WriteTo(stream, message);
        return hmac.GetHashAndReset();
    }

    /// <summary>An actor's path with its node's address, as every node names it.</summary>
    private string FullPath(IActorRef actor) =>
        actor.Path.Address.HasLocalScope ? actor.Path.ToStringWithAddress(_node) : actor.Path.ToString();

    public override string ToString() => "(run session)";

    /// <summary>A write-only stream into a hash: a message is hashed as it is written, never copied.</summary>
    private sealed class HashingStream(IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Write(byte[] buffer, int offset, int count) => hash.AppendData(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => hash.AppendData(buffer);
        public override void WriteByte(byte value) => hash.AppendData([value]);
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
