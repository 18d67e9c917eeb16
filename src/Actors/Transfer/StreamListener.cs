using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Tls;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// Accepts this node's stream connections and reads each on a thread of its own: every frame is checked and
/// deserialized there (<see cref="StreamFrameReader"/>), then its message, or why it failed, is told to its target
/// actor. A connection whose framing can no longer be trusted is dropped. What a stranger can hold is bounded: in a
/// cluster only members' addresses may connect; at `papa.transfer.max-inbound-connections`, or
/// `max-connections-per-address` from one address, the oldest connection that has not begun a frame makes room (else the
/// new one is closed); a connection must finish its TLS handshake (whose peer must show a certificate of our CA) and
/// begin a frame within `handshake-timeout`, and a frame must come at `min-bytes-per-second` after that grace.
/// </summary>
internal sealed class StreamListener : IDisposable
{
    private const int BufferBytes = 64 * 1024;
    // How often deadlines and rates are checked: a connection is closed at most this long after it broke one.
    private static readonly TimeSpan PaceCheckPeriod = TimeSpan.FromMilliseconds(200);
    // Refused addresses logged once each: a flood from many addresses must not flood the log.
    private const int RefusalsLogged = 1024;
    private readonly ExtendedActorSystem _system;
    private readonly StreamFrameReader _frames;
    private readonly TransferSettings _settings;
    private readonly NodeTls? _tls;
    private readonly TcpListener _listener;
    private readonly List<Inbound> _open = [];
    private readonly HashSet<IPAddress> _refusalsLogged = [];
    private readonly Timer _paceCheck;
    private readonly CancellationTokenSource _stop = new();

    /// <param name="tls">this node's TLS identity, or null for plain TCP</param>
    public StreamListener(ExtendedActorSystem system, string host, int port, StreamFrameReader frames, TransferSettings settings, NodeTls? tls)
    {
        (_system, _frames, _settings, _tls) = (system, frames, settings, tls);
        _listener = StreamSockets.Listen(host, port);
        _paceCheck = new Timer(_ => CheckPace(), null, PaceCheckPeriod, PaceCheckPeriod);
        _ = AcceptAllAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Dispose()
    {
        _stop.Cancel();
        _paceCheck.Dispose();
        _listener.Stop();
        lock (_open)
            foreach (var connection in _open)
                connection.Close(null); // a reader blocked on it returns
    }

    /// <summary>An accepted connection: where it comes from, and how far its frames got (for deadlines and rates).</summary>
    private sealed class Inbound(IPAddress peer, CountingStream counted)
    {
        private readonly long _acceptedAt = Environment.TickCount64;
        private long _frameStartedAt = -1;
        private long _bytesAtFrameStart;
        private volatile bool _inFrame;

        public IPAddress Peer { get; } = peer;
        public CountingStream Counted { get; } = counted;
        public bool BegunAFrame => Volatile.Read(ref _frameStartedAt) >= 0;
        /// <summary>Why the listener closed it, if it did.</summary>
        public string? ClosedBecause { get; private set; }

        public void FrameBegun()
        {
            _bytesAtFrameStart = Counted.BytesRead;
            Volatile.Write(ref _frameStartedAt, Environment.TickCount64);
            _inFrame = true;
        }

        public void FrameEnded() => _inFrame = false;

        /// <summary>Why it must be closed now, or null.</summary>
        public string? Overdue(long now, TransferSettings settings)
        {
            var grace = (long)settings.HandshakeTimeout.TotalMilliseconds;
            var started = Volatile.Read(ref _frameStartedAt);
            if (started < 0)
                return now - _acceptedAt > grace
                    ? $"no frame began within {settings.HandshakeTimeout.TotalSeconds:0.###} s of connecting (papa.transfer.handshake-timeout)"
                    : null;
            var late = now - started - grace;
            if (!_inFrame || late <= 0)
                return null;
            var came = Counted.BytesRead - _bytesAtFrameStart;
            return came < settings.MinBytesPerSecond * late / 1000
                ? $"a frame came at less than {settings.MinBytesPerSecond} bytes/s ({came} bytes in {(now - started) / 1000.0:0.#} s; papa.transfer.min-bytes-per-second)"
                : null;
        }

        public void Close(string? reason)
        {
            ClosedBecause ??= reason;
            Counted.Dispose();
        }
    }

    private async Task AcceptAllAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            CountingStream counted;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
                counted = new CountingStream(StreamSockets.Accepted(socket, _settings.Timeout));
            }
            catch (Exception e)
            {
                if (_stop.IsCancellationRequested)
                    return;
                _system.Log.Warning("accepting a stream connection failed: {0}", e.Message);
                continue;
            }
            var peer = PeerAddresses.Normal(((IPEndPoint)socket.RemoteEndPoint!).Address);
            if (Admitted(peer, counted) is not { } inbound)
            {
                counted.Dispose();
                continue;
            }
            if (_stop.IsCancellationRequested)
                inbound.Close(null);
            new Thread(() => ReadAll(inbound)) { IsBackground = true, Name = $"papa stream from {peer}" }.Start();
        }
    }

    /// <summary>The new connection, counted among the open ones; null when it is refused (and logged once per address).</summary>
    private Inbound? Admitted(IPAddress peer, CountingStream counted)
    {
        if (!IsClusterMember(peer))
        {
            LogOnce(peer, $"refused a stream connection from {peer}: it is no cluster member's address");
            return null;
        }
        lock (_open)
        {
            if (_open.Count(c => c.Peer.Equals(peer)) >= _settings.MaxConnectionsPerAddress && !MadeRoom(c => c.Peer.Equals(peer)))
            {
                LogOnce(peer, $"refused a stream connection from {peer}: {_settings.MaxConnectionsPerAddress} from it are open and each has begun a frame (papa.transfer.max-connections-per-address)");
                return null;
            }
            if (_open.Count >= _settings.MaxInboundConnections && !MadeRoom(_ => true))
            {
                LogOnce(peer, $"refused a stream connection from {peer}: {_settings.MaxInboundConnections} are open and each has begun a frame (papa.transfer.max-inbound-connections)");
                return null;
            }
            var inbound = new Inbound(peer, counted);
            _open.Add(inbound);
            return inbound;
        }
    }

    /// <summary>Closes the oldest of <paramref name="among"/> that has not begun a frame, if there is one (a node begins its first as it connects).</summary>
    private bool MadeRoom(Func<Inbound, bool> among)
    {
        if (_open.FirstOrDefault(c => among(c) && !c.BegunAFrame) is not { } idle)
            return false;
        _open.Remove(idle);
        idle.Close("a newer connection took its place before it began a frame");
        return true;
    }

    /// <summary>Without a cluster (plain remoting: tests, benchmarks) any address may connect.</summary>
    private bool IsClusterMember(IPAddress peer) =>
        _system.Provider is not IClusterActorRefProvider ||
        Akka.Cluster.Cluster.Get(_system).State.Members.Any(m => PeerAddresses.Of(m.Address.Host).Contains(peer));

    /// <summary>A refusal is logged once per address: a stranger's flood must not flood the log.</summary>
    private void LogOnce(IPAddress peer, string what)
    {
        bool first;
        lock (_refusalsLogged)
            first = _refusalsLogged.Count < RefusalsLogged && _refusalsLogged.Add(peer);
        if (first)
            _system.Log.Warning("{0} (later refusals of connections from it are not logged)", what);
    }

    private void CheckPace()
    {
        var now = Environment.TickCount64;
        lock (_open)
            foreach (var connection in _open)
                if (connection.Overdue(now, _settings) is { } reason)
                    connection.Close(reason);
    }

    private void ReadAll(Inbound inbound)
    {
        var timeout = (int)Math.Min(int.MaxValue, _settings.Timeout.TotalMilliseconds);
        Stream connection = inbound.Counted;
        try
        {
            connection = StreamSockets.AuthenticatedAsServer(inbound.Counted, _tls);
            using var buffered = new BufferedStream(connection, BufferBytes);
            while (true)
            {
                // Idle between frames for as long as the sender likes; within a frame, no longer than the timeout.
                connection.ReadTimeout = Timeout.Infinite;
                var frame = _frames.Read(buffered, () =>
                {
                    connection.ReadTimeout = timeout;
                    inbound.FrameBegun();
                });
                inbound.FrameEnded();
                if (frame is null)
                    return;
                if (!frame.ConnectionUsable)
                {
                    // Closed before the target hears of it, so the sender's next frame meets a closed connection, not a deaf one.
                    connection.Dispose();
                    _system.Log.Warning("dropped the stream connection from {0}: {1}", inbound.Peer, ((StreamTransferFailed)frame.Arrival).Reason);
                }
                var transferId = frame.Arrival is StreamPayload payload ? payload.TransferId : ((StreamTransferFailed)frame.Arrival).TransferId;
                _system.Provider.ResolveActorRef(frame.TargetPath).Tell(new StreamArrival(inbound.Peer, transferId, frame.Arrival), ActorRefs.NoSender);
                if (!frame.ConnectionUsable)
                    return;
            }
        }
        catch (Exception e)
        {
            if (_stop.IsCancellationRequested)
                return;
            if (inbound.ClosedBecause is { } reason)
                LogOnce(inbound.Peer, $"closed the stream connection from {inbound.Peer}: {reason}");
            else
                _system.Log.Warning("dropped the stream connection from {0}: {1}", inbound.Peer, e.Message);
        }
        finally
        {
            lock (_open)
                _open.Remove(inbound);
            connection.Dispose();
            inbound.Counted.Dispose();
        }
    }
}

/// <summary>Counts the bytes read through it, for the listener's rate check; everything else passes through.</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    private long _bytesRead;

    public long BytesRead => Interlocked.Read(ref _bytesRead);

    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => false;
    public override bool CanWrite => inner.CanWrite;
    public override bool CanTimeout => inner.CanTimeout;
    public override int ReadTimeout { get => inner.ReadTimeout; set => inner.ReadTimeout = value; }
    public override int WriteTimeout { get => inner.WriteTimeout; set => inner.WriteTimeout = value; }
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Counted(await inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);
    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            inner.Dispose();
        base.Dispose(disposing);
    }

    private int Counted(int read)
    {
        Interlocked.Add(ref _bytesRead, read);
        return read;
    }
}

/// <summary>Tells other nodes on which port this node accepts stream connections: a well-known system actor.</summary>
internal sealed class StreamPortActor : ReceiveActor
{
    public const string Name = "papa-stream";

    public StreamPortActor(StreamPort port) => Receive<StreamPortRequest>(_ => Sender.Tell(port));
}
