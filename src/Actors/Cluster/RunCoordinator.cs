using Akka.Actor;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;

namespace PapaActors.Actors.Cluster;

/// <summary>
/// The cluster singleton on the `averager` role: hands the run configuration to member nodes, and runs the
/// <see cref="AveragerActor"/> and the <see cref="RunRecorder"/> on its node. Members reach it through a
/// ClusterSingletonProxy; it forwards their registrations and failure reports to the Averager with the
/// member as sender, so from there on members and Averager talk directly.
/// A coordinator that stops or restarts ends the run as failed (the run folder keeps its checkpoints, and
/// `papa node --role averager --resume` continues it): it never starts the run again with empty state.
/// </summary>
public sealed class RunCoordinator : ReceiveActor
{
    private readonly IActorRef _observer;
    private string? _stopCause;

    public RunCoordinator(PapaSettings settings, string resolvedConfig, SchedulePlan plan, int[] testLabels, string folder, IActorRef observer, RunStart start)
    {
        _observer = observer;
        var recorder = Context.ActorOf(RunRecorder.Props(folder, resolvedConfig, observer, $"./papa node --role averager --resume {folder}",
            start.Resuming, start.Checkpoint), "recorder");
        var averager = Context.ActorOf(AveragerActor.Props(settings, plan, testLabels, recorder, start.Checkpoint), "averager");
        Context.Watch(averager);
        Receive<RequestRunConfig>(_ => Sender.Tell(new RunConfigText(resolvedConfig)));
        Receive<RegisterMember>(averager.Forward);
        Receive<RequestMissingMembers>(averager.Forward);
        Receive<MemberFailed>(averager.Forward);
        Receive<Interrupt>(averager.Forward);
        Receive<Terminated>(t => t.ActorRef.Equals(averager), _ => observer.Tell(new RunFailed($"the averager stopped: {_stopCause ?? "unknown cause"}")));
    }

    public static Props Props(PapaSettings settings, string resolvedConfig, SchedulePlan plan, int[] testLabels, string folder, IActorRef observer, RunStart start) =>
        Akka.Actor.Props.Create(() => new RunCoordinator(settings, resolvedConfig, plan, testLabels, folder, observer, start));

    protected override SupervisorStrategy SupervisorStrategy() =>
        MemberSupervision.Strategy(cause => _stopCause = cause);

    protected override void PostRestart(Exception reason)
    {
        _observer.Tell(new RunFailed($"the run coordinator failed ({reason.GetType().Name}: {reason.Message}); resume the run from its last checkpoint"));
        Context.Stop(Self);
    }
}
