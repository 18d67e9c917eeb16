using System.Collections.Concurrent;
using Akka.Actor;
using PapaActors.Actors.Messages;

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
    private readonly Func<Address, int> _askPort;
    private readonly StreamFrameWriter _frames;
    private readonly TimeSpan _timeout;
    private readonly BlockingCollection<OutgoingFrame> _queue = new();
    private readonly CancellationTokenSource _stop = new();
    private int? _port;
    private Stream? _connection;

    /// <param name="askPort">asks <paramref name="node"/> for its stream port; throws a message that says why it could not</param>
    public StreamConnection(Address node, Func<Address, int> askPort, StreamFrameWriter frames, TimeSpan timeout)
    {
        (_node, _askPort, _frames, _timeout) = (node, askPort, frames, timeout);
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
        Stream connection;
        try
        {
            connection = _connection ?? Connect();
        }
        catch (Exception e)
        {
            if (_stop.IsCancellationRequested)
                return;
            var reason = $"no stream connection to {_node}: {e.Message}";
            Fail(frame, reason);
            // The frames queued meanwhile would wait as long again for the same node.
            while (_queue.TryTake(out var queued))
                Fail(queued, reason);
            return;
        }
        try
        {
            _frames.Write(connection, frame);
            connection.Flush();
        }
        catch (Exception e)
        {
            Disconnect();
            if (!_stop.IsCancellationRequested)
                Fail(frame, $"writing to the stream connection to {_node} failed: {e.Message}");
        }
    }

    private Stream Connect()
    {
        var port = _port ??= _askPort(_node);
        try
        {
            var connection = new BufferedStream(StreamSockets.Connect(_node.Host!, port, _timeout), BufferBytes);
            Volatile.Write(ref _connection, connection);
            if (_stop.IsCancellationRequested)
                connection.Dispose();
            return connection;
        }
        catch
        {
            _port = null; // the node may have restarted on another port: ask again next time
            throw;
        }
    }

    private void Disconnect()
    {
        try
        {
            Interlocked.Exchange(ref _connection, null)?.Dispose();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Disposing flushes what is buffered: on a connection dropped for a failure, that is lost anyway.
        }
    }

    private static void Fail(OutgoingFrame frame, string reason) =>
        frame.Target.Tell(new StreamTransferFailed(frame.TransferId, reason), frame.Sender);
}
