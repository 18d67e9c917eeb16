using System.Net;
using Akka.Actor;
using Akka.Event;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Transfer;

/// <summary>A bulk message that could not be received whole; delivered to the receiving actor in its place.</summary>
public sealed record TransferFailed(string From, long TransferId, string Reason) : INoSerializationVerificationNeeded;

/// <summary>
/// An actor that may receive bulk messages from other nodes (see <see cref="BulkTransport"/>), each handled in place,
/// in its sender's order: a <see cref="StreamedMessage"/> is replaced by its payload from the stream connection; when
/// that has not come yet, the actor waits for it without blocking its thread, every other message stashed meanwhile,
/// for at most `papa.transfer.timeout`. A payload is matched to its announcement by transfer id and by the address it
/// came from, which must be the announcing sender's node: another node cannot answer an announcement in its place.
/// </summary>
public abstract class BulkReceivingActor : ReceiveActor, IWithUnboundedStash
{
    private readonly TransferSettings _settings;
    private readonly EarlyPayloads _earlyLimits;
    private readonly Address _self;
    /// <summary>Payloads (or why they will not come) that arrived before their announcement, by sending address and transfer id.</summary>
    private readonly Dictionary<(IPAddress Peer, long TransferId), Early> _early = [];
    private ICancelable? _purge;
    private Awaiting? _awaiting;

    private sealed record Early(object Arrival, long Bytes, long ArrivedAt);

    private sealed record Awaiting(StreamedMessage Announcement, IActorRef Sender, IPAddress[] Peers, ICancelable Timeout);

    private sealed record AwaitExpired(long TransferId) : INoSerializationVerificationNeeded;

    private sealed record PurgeEarly : INoSerializationVerificationNeeded;

    // The transport is created with the first receiving actor, so this node accepts stream connections before any sender asks.
    protected BulkReceivingActor()
    {
        var transport = BulkTransport.For(Context.System);
        (_settings, _earlyLimits) = (transport.Settings, transport.EarlyPayloads);
        _self = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress;
    }

    public IStash Stash { get; set; } = null!;

    protected override bool AroundReceive(Receive receive, object message)
    {
        switch (message)
        {
            case StreamArrival arrival:
                Arrived(arrival.Peer, arrival.TransferId, arrival.Arrival);
                return true;
            case StreamTransferFailed failure: // the sending node could not write the frame: it says so over Akka
                Arrived(PeerAddresses.Of(Sender.Path.Address, _self).FirstOrDefault() ?? IPAddress.None, failure.TransferId, failure);
                return true;
            case PurgeEarly:
                _purge = null;
                PurgeStale();
                return true;
            case AwaitExpired expired:
                if (_awaiting is { } late && late.Announcement.TransferId == expired.TransferId)
                    Resume(Failed(late, $"its payload did not arrive within {_settings.Timeout.TotalSeconds:0.###} s (papa.transfer.timeout)"));
                return true;
            case Terminated { AddressTerminated: true } lost when _awaiting is { } awaited && lost.ActorRef.Path.Address.Equals(awaited.Sender.Path.Address):
                Stash.Stash(); // handled right after the transfer it ends
                Resume(Failed(awaited, $"its node {lost.ActorRef.Path.Address} was lost before the payload arrived"));
                return true;
            case not null when _awaiting is not null:
                Stash.Stash();
                return true;
            case StreamedMessage announcement:
                OnAnnouncement(receive, announcement);
                return true;
            default:
                return base.AroundReceive(receive, message);
        }
    }

    /// <summary>A payload that came before its announcement outlives a restart: the announcement still comes.</summary>
    public override void AroundPreRestart(Exception cause, object message)
    {
        foreach (var ((peer, id), early) in _early)
            Self.Tell(new StreamArrival(peer, id, early.Arrival));
        ReleaseAll();
        base.AroundPreRestart(cause, message);
    }

    public override void AroundPostStop()
    {
        ReleaseAll();
        base.AroundPostStop();
    }

    private void OnAnnouncement(Receive receive, StreamedMessage announcement)
    {
        var peers = PeerAddresses.Of(Sender.Path.Address, _self);
        if (announcement.TotalBytes < 0 || announcement.TotalBytes > _settings.MaxMessageBytes)
        {
            Deliver(receive, new TransferFailed(Sender.Path.ToString(), announcement.TransferId,
                $"a {announcement.TotalBytes}-byte message announced, more than papa.transfer.max-message-bytes ({_settings.MaxMessageBytes})"));
        }
        else if (peers.Select(peer => (peer, announcement.TransferId)).FirstOrDefault(_early.ContainsKey) is { peer: not null } key)
        {
            var early = Take(key);
            Deliver(receive, InPlaceOf(announcement, Sender, early.Arrival));
        }
        else
        {
            var timeout = Context.System.Scheduler.ScheduleTellOnceCancelable(_settings.Timeout, Self, new AwaitExpired(announcement.TransferId), Self);
            _awaiting = new Awaiting(announcement, Sender, peers, timeout);
        }
    }

    private void Arrived(IPAddress peer, long transferId, object arrival)
    {
        if (_awaiting is { } awaited && awaited.Announcement.TransferId == transferId && awaited.Peers.Contains(peer))
        {
            Resume(InPlaceOf(awaited.Announcement, awaited.Sender, arrival));
            return;
        }
        PurgeStale();
        var key = (peer, transferId);
        if (_early.ContainsKey(key))
            Take(key); // the same id again from the same address: the newer one counts
        var bytes = arrival is StreamPayload payload ? payload.TotalBytes : 0;
        if (!_earlyLimits.TryHold(peer, bytes))
        {
            if (_earlyLimits.FirstRefusal(peer))
                Context.GetLogger().Warning("dropped an unannounced {0}-byte payload from {1}: it holds {2} early payloads or their bytes passed papa.transfer.max-early-bytes-per-peer " +
                                            "or max-early-bytes (later ones from it are dropped without a word)", bytes, peer, EarlyPayloads.MaxPerPeer);
            return;
        }
        _early[key] = new Early(arrival, bytes, Environment.TickCount64);
        PurgeLaterWhileHeld();
    }

    /// <summary>Drops the early payloads whose announcement did not come within the timeout, and looks again later while some are left.</summary>
    private void PurgeStale()
    {
        var now = Environment.TickCount64;
        foreach (var stale in _early.Where(e => now - e.Value.ArrivedAt > _settings.Timeout.TotalMilliseconds).Select(e => e.Key).ToList())
        {
            Take(stale);
            Context.GetLogger().Warning("dropped the payload of streamed message {0} from {1}: its announcement did not come within {2}", stale.TransferId, stale.Peer, _settings.Timeout);
        }
        PurgeLaterWhileHeld();
    }

    /// <summary>So an early payload whose announcement never comes is let go even if nothing else arrives.</summary>
    private void PurgeLaterWhileHeld()
    {
        if (_early.Count > 0)
            _purge ??= Context.System.Scheduler.ScheduleTellOnceCancelable(_settings.Timeout, Self, new PurgeEarly(), Self);
    }

    private Early Take((IPAddress Peer, long TransferId) key)
    {
        _early.Remove(key, out var early);
        _earlyLimits.Release(key.Peer, early!.Bytes);
        return early;
    }

    private void ReleaseAll()
    {
        _purge?.Cancel();
        _purge = null;
        foreach (var key in _early.Keys.ToList())
            Take(key);
    }

    /// <summary>What the actor handles where the announcement was: the message, or why it cannot have it.</summary>
    private static object InPlaceOf(StreamedMessage announcement, IActorRef sender, object arrival) => arrival switch
    {
        StreamTransferFailed failure => new TransferFailed(sender.Path.ToString(), announcement.TransferId, failure.Reason),
        StreamPayload payload when payload.TotalBytes != announcement.TotalBytes || payload.Manifest != announcement.Manifest =>
            new TransferFailed(sender.Path.ToString(), announcement.TransferId,
                $"the stream brought a {payload.TotalBytes}-byte '{payload.Manifest}' message where a {announcement.TotalBytes}-byte '{announcement.Manifest}' one was announced"),
        StreamPayload payload => payload.Message,
        _ => throw new ArgumentException($"not an arrival: {arrival.GetType().Name}", nameof(arrival)),
    };

    private static TransferFailed Failed(Awaiting awaited, string reason) =>
        new(awaited.Sender.Path.ToString(), awaited.Announcement.TransferId, reason);

    /// <summary>Ends the wait: <paramref name="delivered"/> (in the announcement's place and its sender's name), then everything stashed, in order.</summary>
    private void Resume(object delivered)
    {
        var awaited = _awaiting!;
        awaited.Timeout.Cancel();
        _awaiting = null;
        Stash.Prepend([new Envelope(delivered, awaited.Sender)]);
        Stash.UnstashAll();
    }

    private void Deliver(Receive receive, object message)
    {
        if (!base.AroundReceive(receive, message))
            Unhandled(message);
    }
}
