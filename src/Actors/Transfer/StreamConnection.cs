using System.Collections.Concurrent;
using System.Net.Sockets;
using Akka.Actor;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Tls;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// The stream connection from this node to one other node. Frames are queued and written in order by a thread of
/// its own, so several actors' messages never interleave and no actor waits for the network. A frame that cannot be
/// written is reported to its target in its sender's name (<see cref="StreamTransferFailed"/> over Akka, after the
/// announcement), never to the sender; the next frame connects afresh.
/// </summary>
internal sealed class StreamConnection : IDisposable
{
    private const int BufferBytes = 64 * 1024;
    private readonly Address _node;
    private readonly Func<Address, StreamPort> _askPort;
    private readonly StreamFrameWriter _frames;
    private readonly TimeSpan _timeout;
    private readonly NodeTls? _tls;
    private readonly BlockingCollection<OutgoingFrame> _queue = new();
    private readonly CancellationTokenSource _stop = new();
    private StreamPort? _port;
    private Link? _link;

    /// <summary>An open connection, written through <paramref name="Buffered"/>; <paramref name="PeerClosed"/> completes when the other node closes it.</summary>
    private sealed record Link(Stream Connection, Stream Buffered, Task PeerClosed);

    /// <param name="askPort">asks <paramref name="node"/> for its stream port; throws a message that says why it could not</param>
    /// <param name="tls">this node's TLS identity, or null for plain TCP</param>
    public StreamConnection(Address node, Func<Address, StreamPort> askPort, StreamFrameWriter frames, TimeSpan timeout, NodeTls? tls)
    {
        (_node, _askPort, _frames, _timeout, _tls) = (node, askPort, frames, timeout, tls);
        new Thread(WriteAll) { IsBackground = true, Name = $"papa stream to {node}" }.Start();
    }

    public void Enqueue(OutgoingFrame frame)
    {
        try
        {
            _queue.Add(frame);
        }
        catch (InvalidOperationException)
        {
            Fail(frame, "this node is shutting down");
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _queue.CompleteAdding();
        Disconnect();
    }

    private void WriteAll()
    {
        try
        {
            foreach (var frame in _queue.GetConsumingEnumerable(_stop.Token))
                Write(frame);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Disconnect();
        }
    }

    private void Write(OutgoingFrame frame)
    {
        // A connection the other node closed since the last frame fails at the first write. A frame whose write fails never
        // arrived whole, so on a connection opened before it, it goes once more on a new one.
        var reused = _link is { PeerClosed.IsCompleted: false };
        while (TryConnect(frame, out var link))
        {
            if (frame.PayloadBytes > _port!.MaxMessageBytes)
            {
                // The other node would drop the connection, and every frame written behind this one with it.
                Fail(frame, $"a {frame.PayloadBytes}-byte '{frame.Manifest}' message is more than {_node} accepts (its papa.transfer.max-message-bytes is {_port.MaxMessageBytes})");
                return;
            }
            try
            {
                _frames.Write(link.Buffered, frame);
                link.Buffered.Flush();
                return;
            }
            catch (Exception e)
            {
                Disconnect();
                if (_stop.IsCancellationRequested)
                    return;
                if (!reused || e is not IOException)
                {
                    Fail(frame, $"writing to the stream connection to {_node} failed: {e.Message}");
                    return;
                }
                reused = false;
            }
        }
    }

    /// <summary>The open connection, or a new one; when there is none, the frame and those queued behind it fail.</summary>
    private bool TryConnect(OutgoingFrame frame, out Link link)
    {
        try
        {
            link = _link is { PeerClosed.IsCompleted: false } open ? open : Connect();
            return true;
        }
        catch (Exception e)
        {
            link = null!;
            if (_stop.IsCancellationRequested)
                return false;
            var reason = $"no stream connection to {_node}: {e.Message}";
            Fail(frame, reason);
            // The frames queued meanwhile would wait as long again for the same node.
            while (_queue.TryTake(out var queued))
                Fail(queued, reason);
            return false;
        }
    }

    private Link Connect()
    {
        Disconnect();
        var connection = Open();
        var link = new Link(connection, new BufferedStream(connection, BufferBytes), WaitForCloseAsync(connection));
        Volatile.Write(ref _link, link);
        if (_stop.IsCancellationRequested)
            Disconnect();
        return link;
    }

    private Stream Open()
    {
        if (_port is { } known)
        {
            try
            {
                return StreamSockets.Connect(_node.Host!, known.Port, _timeout, _tls);
            }
            catch (Exception e) when (e is SocketException or TimeoutException)
            {
                _port = null; // the node may have restarted on another port: ask it again
            }
        }
        var port = _askPort(_node);
        var connection = StreamSockets.Connect(_node.Host!, port.Port, _timeout, _tls);
        _port = port;
        return connection;
    }

    /// <summary>
    /// The receiving node never writes, so a read that ends means it closed the connection (it restarted, or dropped a
    /// frame it could not trust): the next frame then goes on a new connection rather than into a dead one.
    /// </summary>
    private static async Task WaitForCloseAsync(Stream connection)
    {
        try
        {
            await connection.ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }

    private void Disconnect()
    {
        var link = Interlocked.Exchange(ref _link, null);
        try
        {
            link?.Buffered.Dispose();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Disposing flushes what is buffered: on a connection dropped for a failure, that is lost anyway.
        }
        finally
        {
            link?.Connection.Dispose();
        }
    }

    private static void Fail(OutgoingFrame frame, string reason) =>
        frame.Target.Tell(new StreamTransferFailed(frame.TransferId, reason), frame.Sender);
}
