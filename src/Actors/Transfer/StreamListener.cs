using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Tls;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// Accepts this node's stream connections and reads each on a thread of its own: every frame is checked and
/// deserialized there (<see cref="StreamFrameReader"/>), then its message, or why it failed, is told to its target
/// actor. A connection whose framing can no longer be trusted is dropped; one beyond `papa.transfer.max-inbound-connections`
/// is closed as it is accepted; with TLS, so is one whose peer shows no certificate of our CA, before it is read.
/// </summary>
internal sealed class StreamListener : IDisposable
{
    private const int BufferBytes = 64 * 1024;
    private readonly ExtendedActorSystem _system;
    private readonly StreamFrameReader _frames;
    private readonly TimeSpan _timeout;
    private readonly int _maxConnections;
    private readonly NodeTls? _tls;
    private readonly TcpListener _listener;
    private readonly ConcurrentDictionary<Stream, bool> _open = new();
    private readonly CancellationTokenSource _stop = new();

    /// <param name="tls">this node's TLS identity, or null for plain TCP</param>
    public StreamListener(ExtendedActorSystem system, string host, int port, StreamFrameReader frames, TimeSpan timeout, int maxConnections, NodeTls? tls)
    {
        (_system, _frames, _timeout, _maxConnections, _tls) = (system, frames, timeout, maxConnections, tls);
        _listener = StreamSockets.Listen(host, port);
        _ = AcceptAllAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        foreach (var connection in _open.Keys)
            connection.Dispose(); // a reader blocked on it returns
    }

    private async Task AcceptAllAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            Stream connection;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
                connection = StreamSockets.Accepted(socket, _timeout);
            }
            catch (Exception e)
            {
                if (_stop.IsCancellationRequested)
                    return;
                _system.Log.Warning("accepting a stream connection failed: {0}", e.Message);
                continue;
            }
            var peer = socket.RemoteEndPoint;
            if (_open.Count >= _maxConnections)
            {
                connection.Dispose();
                _system.Log.Warning("refused a stream connection from {0}: {1} are open (papa.transfer.max-inbound-connections)", peer, _maxConnections);
                continue;
            }
            _open[connection] = true;
            if (_stop.IsCancellationRequested)
                connection.Dispose();
            new Thread(() => ReadAll(connection, peer)) { IsBackground = true, Name = $"papa stream from {peer}" }.Start();
        }
    }

    private void ReadAll(Stream accepted, EndPoint? peer)
    {
        var timeout = (int)Math.Min(int.MaxValue, _timeout.TotalMilliseconds);
        var connection = accepted;
        try
        {
            connection = StreamSockets.AuthenticatedAsServer(accepted, _tls);
            using var buffered = new BufferedStream(connection, BufferBytes);
            while (true)
            {
                // Idle between frames for as long as the sender likes; within a frame, no longer than the timeout.
                connection.ReadTimeout = Timeout.Infinite;
                var frame = _frames.Read(buffered, () => connection.ReadTimeout = timeout);
                if (frame is null)
                    return;
                if (!frame.ConnectionUsable)
                {
                    // Closed before the target hears of it, so the sender's next frame meets a closed connection, not a deaf one.
                    connection.Dispose();
                    _system.Log.Warning("dropped the stream connection from {0}: {1}", peer, ((StreamTransferFailed)frame.Arrival).Reason);
                }
                _system.Provider.ResolveActorRef(frame.TargetPath).Tell(frame.Arrival, ActorRefs.NoSender);
                if (!frame.ConnectionUsable)
                    return;
            }
        }
        catch (Exception e)
        {
            if (!_stop.IsCancellationRequested)
                _system.Log.Warning("dropped the stream connection from {0}: {1}", peer, e.Message);
        }
        finally
        {
            _open.TryRemove(accepted, out _);
            connection.Dispose();
        }
    }
}

/// <summary>Tells other nodes on which port this node accepts stream connections: a well-known system actor.</summary>
internal sealed class StreamPortActor : ReceiveActor
{
    public const string Name = "papa-stream";

    public StreamPortActor(StreamPort port) => Receive<StreamPortRequest>(_ => Sender.Tell(port));
}
