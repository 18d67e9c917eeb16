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
/// for at most `papa.transfer.timeout`.
/// </summary>
public abstract class BulkReceivingActor : ReceiveActor, IWithUnboundedStash
{
    private readonly TransferSettings _settings;
    /// <summary>Payloads (or why they will not come) that arrived before their announcement, and when (ms).</summary>
    private readonly Dictionary<long, (object Arrival, long ArrivedAt)> _early = [];
    private Awaiting? _awaiting;

    private sealed record Awaiting(StreamedMessage Announcement, IActorRef Sender, ICancelable Timeout);

    private sealed record AwaitExpired(long TransferId) : INoSerializationVerificationNeeded;

    // The transport is created with the first receiving actor, so this node accepts stream connections before any sender asks.
    protected BulkReceivingActor() => _settings = BulkTransport.For(Context.System).Settings;

    public IStash Stash { get; set; } = null!;

    protected override bool AroundReceive(Receive receive, object message)
    {
        switch (message)
        {
            case StreamPayload payload:
                Arrived(payload.TransferId, payload);
                return true;
            case StreamTransferFailed failure:
                Arrived(failure.TransferId, failure);
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
        foreach (var (arrival, _) in _early.Values)
            Self.Tell(arrival);
        base.AroundPreRestart(cause, message);
    }

    private void OnAnnouncement(Receive receive, StreamedMessage announcement)
    {
        if (announcement.TotalBytes < 0 || announcement.TotalBytes > _settings.MaxMessageBytes)
        {
            Deliver(receive, new TransferFailed(Sender.Path.ToString(), announcement.TransferId,
                $"a {announcement.TotalBytes}-byte message announced, more than papa.transfer.max-message-bytes ({_settings.MaxMessageBytes})"));
        }
        else if (_early.Remove(announcement.TransferId, out var early))
        {
            Deliver(receive, InPlaceOf(announcement, Sender, early.Arrival));
        }
        else
        {
            var timeout = Context.System.Scheduler.ScheduleTellOnceCancelable(_settings.Timeout, Self, new AwaitExpired(announcement.TransferId), Self);
            _awaiting = new Awaiting(announcement, Sender, timeout);
        }
    }

    private void Arrived(long transferId, object arrival)
    {
        if (_awaiting is { } awaited && awaited.Announcement.TransferId == transferId)
        {
            Resume(InPlaceOf(awaited.Announcement, awaited.Sender, arrival));
            return;
        }
        var now = Environment.TickCount64;
        foreach (var stale in _early.Where(e => now - e.Value.ArrivedAt > _settings.Timeout.TotalMilliseconds).Select(e => e.Key).ToList())
        {
            _early.Remove(stale);
            Context.GetLogger().Warning("dropped the payload of streamed message {0}: its announcement did not come within {1}", stale, _settings.Timeout);
        }
        _early[transferId] = (arrival, now);
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
