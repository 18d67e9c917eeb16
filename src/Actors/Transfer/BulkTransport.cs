using Akka.Actor;
using Akka.Remote;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Serialization;
using PapaActors.Actors.Tls;

namespace PapaActors.Actors.Transfer;

/// <summary>
/// Sends messages that may be large (weights, logits) to actors on other nodes without ever blocking Akka.Remote's
/// connection or hitting its frame size. Local actors get the message itself: in one process nothing is serialized or
/// copied. A remote actor gets a message up to `papa.transfer.stream-above` as an Akka message like any other; a larger
/// one goes on this node's stream connection to the target's node (<see cref="StreamConnection"/>), written straight
/// from its arrays, while a small <see cref="StreamedMessage"/> takes its place among the sender's Akka messages; the
/// receiving <see cref="BulkReceivingActor"/> handles it in that place.
/// Each ActorSystem with remoting accepts stream connections (<see cref="StreamListener"/>) at its remote hostname, on
/// `papa.transfer.stream-port`, and tells the port to a node that asks (<see cref="StreamPortActor"/>).
/// </summary>
public sealed class BulkTransport : IExtension
{
    private readonly ExtendedActorSystem _system;
    private readonly PapaSerializer _serializer;
    private readonly StreamFrameWriter _frameWriter;
    private readonly StreamListener? _listener;
    private readonly Dictionary<Address, StreamConnection> _connections = [];
    private bool _stopped;
    private long _nextTransferId;

    public BulkTransport(ExtendedActorSystem system)
    {
        _system = system;
        var config = system.Settings.Config;
        Settings = TransferSettings.FromConfig(config);
        const string frameKey = "akka.remote.dot-netty.tcp.maximum-frame-size";
        if (config.HasPath(frameKey) && Settings.StreamAboveBytes + EnvelopeBytes > config.GetByteSize(frameKey))
            throw new ConfigException(
                $"'papa.transfer.stream-above' ({Settings.StreamAboveBytes}) plus {EnvelopeBytes} bytes of envelope must fit in '{frameKey}' ({config.GetByteSize(frameKey)})");
        _nextTransferId = Random.Shared.NextInt64(1, long.MaxValue / 2);
        // The stream carries PapaSerializer's messages only: never a serializer named by the bytes on the wire.
        _serializer = new PapaSerializer(system);
        _frameWriter = new StreamFrameWriter(_serializer);
        if (system.Provider is IRemoteActorRefProvider)
        {
            _listener = Listen(system);
            var port = new StreamPort(_listener.Port, Settings.MaxMessageBytes);
            system.SystemActorOf(Props.Create(() => new StreamPortActor(port)), StreamPortActor.Name);
        }
        system.WhenTerminated.ContinueWith(_ => Stop(), TaskScheduler.Default);
    }

    /// <summary>Room left in a frame for Akka's envelope (actor paths, manifest) around a message that stays on Akka.Remote.</summary>
    public const int EnvelopeBytes = 4096;

    public TransferSettings Settings { get; }

    /// <summary>The port this node accepts stream connections on (none without remoting).</summary>
    public int? StreamPort => _listener?.Port;

    public static BulkTransport For(ActorSystem system) => system.WithExtension<BulkTransport, BulkTransportProvider>();

    public void Send(IActorRef target, object message, IActorRef sender)
    {
        if (target is IInternalActorRef { IsLocal: true })
        {
            target.Tell(message, sender);
            return;
        }
        var manifest = _serializer.Manifest(message);
        var bytes = _serializer.SizeOf(message);
        if (bytes <= Settings.StreamAboveBytes)
        {
            target.Tell(message, sender);
            return;
        }
        if (bytes > Settings.MaxMessageBytes)
            throw new InvalidOperationException($"a {bytes}-byte '{manifest}' message is more than papa.transfer.max-message-bytes ({Settings.MaxMessageBytes})");
        var id = Interlocked.Increment(ref _nextTransferId);
        // Announced first: the failure notice of a frame that cannot be written must come after it.
        target.Tell(new StreamedMessage(id, bytes, manifest), sender);
        ConnectionTo(target.Path.Address).Enqueue(new OutgoingFrame(id, target, sender, message, manifest, bytes));
    }

    private StreamConnection ConnectionTo(Address node)
    {
        lock (_connections)
        {
            if (!_connections.TryGetValue(node, out var connection))
                _connections[node] = connection = new StreamConnection(node, AskStreamPort, _frameWriter, Settings.Timeout, NodeTls.Of(_system));
            if (_stopped)
                connection.Dispose(); // a send racing the system's end: its frame fails instead of waiting forever
            return connection;
        }
    }

    private StreamPort AskStreamPort(Address node)
    {
        var endpoint = _system.ActorSelection(new RootActorPath(node) / "system" / StreamPortActor.Name);
        try
        {
            return endpoint.Ask<StreamPort>(new StreamPortRequest(), Settings.Timeout).GetAwaiter().GetResult();
        }
        catch (AskTimeoutException)
        {
            throw new TimeoutException($"{node} did not tell its stream port within {Settings.Timeout.TotalSeconds:0.###} s (papa.transfer.timeout)");
        }
    }

    private StreamListener Listen(ExtendedActorSystem system)
    {
        var configured = system.Settings.Config.GetString("akka.remote.dot-netty.tcp.hostname", "");
        var host = string.IsNullOrWhiteSpace(configured) ? system.Provider.DefaultAddress.Host! : configured;
        try
        {
            return new StreamListener(system, host, Settings.StreamPort, new StreamFrameReader(_serializer, Settings.MaxMessageBytes), Settings.Timeout,
                Settings.MaxInboundConnections, NodeTls.Of(system));
        }
        catch (System.Net.Sockets.SocketException e)
        {
            throw new ConfigException($"cannot accept stream connections on {host}:{Settings.StreamPort} (papa.transfer.stream-port): {e.Message}");
        }
    }

    /// <summary>The listener, connections and their threads end with the ActorSystem.</summary>
    private void Stop()
    {
        _listener?.Dispose();
        lock (_connections)
        {
            _stopped = true;
            foreach (var connection in _connections.Values)
                connection.Dispose();
        }
    }
}

public sealed class BulkTransportProvider : ExtensionIdProvider<BulkTransport>
{
    public override BulkTransport CreateExtension(ExtendedActorSystem system) => new(system);
}
