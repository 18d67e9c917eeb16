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
/// </summary>
public sealed class RunCoordinator : ReceiveActor
{
    public RunCoordinator(PapaSettings settings, string resolvedConfig, SchedulePlan plan, int[] testLabels, string folder, IActorRef observer)
    {
        var recorder = Context.ActorOf(RunRecorder.Props(folder, resolvedConfig, observer), "recorder");
        var averager = Context.ActorOf(AveragerActor.Props(settings, plan, testLabels, recorder), "averager");
        Receive<RequestRunConfig>(_ => Sender.Tell(new RunConfigText(resolvedConfig)));
        Receive<RegisterMember>(averager.Forward);
        Receive<MemberFailed>(averager.Forward);
    }

    public static Props Props(PapaSettings settings, string resolvedConfig, SchedulePlan plan, int[] testLabels, string folder, IActorRef observer) =>
        Akka.Actor.Props.Create(() => new RunCoordinator(settings, resolvedConfig, plan, testLabels, folder, observer));
}
