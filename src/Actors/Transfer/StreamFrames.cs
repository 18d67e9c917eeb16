using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using Akka.Actor;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Serialization;

namespace PapaActors.Actors.Transfer;

/// <summary>A message waiting for its stream connection: whom it is for and from, and its size as PapaSerializer bytes.</summary>
internal sealed record OutgoingFrame(long TransferId, IActorRef Target, IActorRef Sender, object Message, string Manifest, long PayloadBytes);

/// <summary>
/// What one frame brought for the actor at <paramref name="TargetPath"/>: a <see cref="StreamPayload"/>, or a
/// <see cref="StreamTransferFailed"/>; <paramref name="ConnectionUsable"/>: the next frame starts where this one ended.
/// </summary>
internal sealed record FrameRead(string TargetPath, object Arrival, bool ConnectionUsable);

/// <summary>A streamed message read, checked and deserialized by the receiving node, on its way to its target actor.</summary>
internal sealed record StreamPayload(long TransferId, long TotalBytes, string Manifest, object Message) : INoSerializationVerificationNeeded;

/// <summary>
/// One message on a stream connection, little-endian: magic (u32), transfer id (i64), payload length (i64), target
/// path length (u16), manifest length (u8), target path and manifest (UTF-8), the payload (the message as
/// PapaSerializer bytes), and the CRC-32 of everything after the magic (u32).
/// </summary>
internal static class StreamFrame
{
    public const uint Magic = 0x31415050; // "PPA1"
    public const int FixedHeaderBytes = 4 + 8 + 8 + 2 + 1;
    public const int MaxPathBytes = 4096;
    public const int MaxManifestBytes = byte.MaxValue;
}

/// <summary>Writes frames straight from the message's arrays into the connection (no copy of the message in between).</summary>
internal sealed class StreamFrameWriter(PapaSerializer serializer)
{
    public void Write(Stream connection, OutgoingFrame frame)
    {
        var path = Encoding.UTF8.GetBytes(frame.Target.Path.ToSerializationFormat());
        var manifest = Encoding.UTF8.GetBytes(frame.Manifest);
        if (path.Length > StreamFrame.MaxPathBytes || manifest.Length > StreamFrame.MaxManifestBytes)
            throw new InvalidOperationException($"actor path or manifest too long for a stream frame ({path.Length} and {manifest.Length} bytes)");
        Span<byte> header = stackalloc byte[StreamFrame.FixedHeaderBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(header, StreamFrame.Magic);
        BinaryPrimitives.WriteInt64LittleEndian(header[4..], frame.TransferId);
        BinaryPrimitives.WriteInt64LittleEndian(header[12..], frame.PayloadBytes);
        BinaryPrimitives.WriteUInt16LittleEndian(header[20..], (ushort)path.Length);
        header[22] = (byte)manifest.Length;

        var checksum = new Crc32();
        connection.Write(header[..4]);
        var summed = new ChecksummingStream(connection, checksum);
        summed.Write(header[4..]);
        summed.Write(path);
        summed.Write(manifest);
        var payloadStart = summed.Position;
        serializer.Write(summed, frame.Message);
        if (summed.Position - payloadStart != frame.PayloadBytes)
            throw new InvalidOperationException($"the '{frame.Manifest}' message changed while it was sent ({summed.Position - payloadStart} bytes, {frame.PayloadBytes} announced)");
        Span<byte> trailer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(trailer, checksum.GetCurrentHashAsUInt32());
        connection.Write(trailer);
    }
}

/// <summary>
/// Reads frames: every length is checked before anything is allocated for it (the payload's against
/// `papa.transfer.max-message-bytes`), the message is deserialized straight from the connection into its own arrays,
/// and it is only handed out once the whole frame's CRC-32 matches. Only PapaSerializer messages are read, whatever
/// the frame says.
/// </summary>
internal sealed class StreamFrameReader(PapaSerializer serializer, long maxMessageBytes)
{
    /// <summary>
    /// The next frame, or null when the connection closed between frames. <paramref name="begun"/> runs once a frame's
    /// first byte is in (so a connection may idle between frames without a timeout, but not within one).
    /// </summary>
    /// <exception cref="InvalidDataException">a frame header that cannot be trusted, or that names no target to tell</exception>
    /// <exception cref="IOException">the connection failed or closed within a frame header</exception>
    public FrameRead? Read(Stream connection, Action? begun = null)
    {
        var first = connection.ReadByte();
        if (first < 0)
            return null;
        begun?.Invoke();
        Span<byte> header = stackalloc byte[StreamFrame.FixedHeaderBytes];
        header[0] = (byte)first;
        connection.ReadExactly(header[1..]);
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (magic != StreamFrame.Magic)
            throw new InvalidDataException($"not a stream frame (magic 0x{magic:x8}): the connection is out of step");
        var transferId = BinaryPrimitives.ReadInt64LittleEndian(header[4..]);
        var length = BinaryPrimitives.ReadInt64LittleEndian(header[12..]);
        var pathBytes = BinaryPrimitives.ReadUInt16LittleEndian(header[20..]);
        var manifestBytes = header[22];
        if (pathBytes > StreamFrame.MaxPathBytes)
            throw new InvalidDataException($"a {pathBytes}-byte actor path in a frame header (at most {StreamFrame.MaxPathBytes})");
        var names = new byte[pathBytes + manifestBytes];
        connection.ReadExactly(names);
        var targetPath = Encoding.UTF8.GetString(names, 0, pathBytes);
        var manifest = Encoding.UTF8.GetString(names, pathBytes, manifestBytes);
        FrameRead Failed(string reason, bool connectionUsable) => new(targetPath, new StreamTransferFailed(transferId, reason), connectionUsable);

        if (length < 0 || length > maxMessageBytes)
            return Failed($"the stream announced a {length}-byte '{manifest}' message, more than papa.transfer.max-message-bytes ({maxMessageBytes})", false);
        if (!PapaSerializer.IsKnownManifest(manifest))
            return Failed($"the stream announced a message of unknown manifest '{manifest}' (only PapaSerializer messages travel on it)", false);

        var checksum = new Crc32();
        checksum.Append(header[4..]);
        checksum.Append(names);
        var payload = new PayloadStream(connection, length, checksum);
        object? message = null;
        string? corrupt = null;
        uint sent;
        try
        {
            try
            {
                message = serializer.Read(payload, manifest);
            }
            catch (Exception e) when (e is not ConnectionLostException)
            {
                corrupt = e.Message;
                payload.SkipRest(); // the frame's end is known: the connection stays in step
            }
            sent = ReadChecksum(connection);
        }
        catch (ConnectionLostException e)
        {
            return Failed(e.Message, false);
        }
        if (sent != checksum.GetCurrentHashAsUInt32())
            return Failed("checksum mismatch: the data was corrupted on the way", true);
        return corrupt is null
            ? new FrameRead(targetPath, new StreamPayload(transferId, length, manifest, message!), true)
            : Failed($"the streamed '{manifest}' message cannot be read: {corrupt}", true);
    }

    private static uint ReadChecksum(Stream connection)
    {
        Span<byte> trailer = stackalloc byte[4];
        try
        {
            connection.ReadExactly(trailer);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw new ConnectionLostException($"the stream connection failed before the frame's checksum: {e.Message}", e);
        }
        return BinaryPrimitives.ReadUInt32LittleEndian(trailer);
    }
}

/// <summary>The connection failed or closed within a payload (not an IOException: PapaSerializer reports those as corrupt data).</summary>
internal sealed class ConnectionLostException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// One frame's payload as a stream of exactly its length (what PapaSerializer checks array lengths against) that
/// feeds every byte it reads to the frame's CRC.
/// </summary>
internal sealed class PayloadStream(Stream connection, long length, Crc32 checksum) : Stream
{
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => length;
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var wanted = (int)Math.Min(buffer.Length, length - _position);
        if (wanted == 0)
            return 0;
        int read;
        try
        {
            read = connection.Read(buffer[..wanted]);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw new ConnectionLostException($"the stream connection failed after {_position} of {length} bytes: {e.Message}", e);
        }
        if (read == 0)
            throw new ConnectionLostException($"the stream connection closed after {_position} of {length} bytes");
        checksum.Append(buffer[..read]);
        _position += read;
        return read;
    }

    public void SkipRest()
    {
        Span<byte> scratch = stackalloc byte[4096];
        while (Read(scratch) > 0)
        {
        }
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Passes writes on to the connection and feeds them to the frame's CRC; counts them.</summary>
internal sealed class ChecksummingStream(Stream connection, Crc32 checksum) : Stream
{
    private long _position;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _position;
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        checksum.Append(buffer);
        connection.Write(buffer);
        _position += buffer.Length;
    }

    public override void Flush() => connection.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
