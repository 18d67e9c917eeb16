using Akka.Actor;
using Akka.Cluster.Tools.Singleton;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Security;
using PapaActors.Models.Data;

namespace PapaActors.Actors.Cluster;

/// <summary>Starting the two roles of a cluster run on an ActorSystem; used by `papa node` and the tests.</summary>
public static class ClusterNodes
{
    public const string SystemName = "papa";
    public const string AveragerRole = TrustedSenders.AveragerRole;
    public const string MemberRole = "member";
    private const string ManagerName = "averager";

    /// <summary>
    /// Runs the coordinator singleton (Averager and recorder) on the averager role; completes when the run ends.
    /// The averager node loads the dataset too: the schedule needs the steps per epoch, the ensemble the test labels.
    /// With `papa.cluster.secret-file` (or PAPA_CLUSTER_SECRET), only nodes that prove the secret take part.
    /// <paramref name="resumeCommand"/>: what continues the run should it end unfinished (see <see cref="RunRecorder"/>).
    /// </summary>
    public static Task<IRunEvent> StartAverager(ActorSystem system, RunConfig run, DataSplits data, string folder, string resumeCommand,
        IActorRef? observer = null, RunStart? start = null, CancellationToken interrupt = default)
    {
        var plan = SchedulePlan.For(run.Settings, data);
        var outcome = new TaskCompletionSource<IRunEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var completion = system.ActorOf(RunCompletion.Props(outcome, observer), "run-completion");
        var manager = system.ActorOf(ClusterSingletonManager.Props(
            RunCoordinator.Props(run, plan, data.Test.LabelArray(), folder, resumeCommand, completion, start ?? RunStart.Fresh, RunSecret.Load(run.Settings.Secret.File)),
            PoisonPill.Instance,
            ClusterSingletonManagerSettings.Create(system).WithRole(AveragerRole)), ManagerName);
        // The singleton runs on this node (the only one of its role), so its path is known here.
        interrupt.Register(() => system.ActorSelection(manager.Path / "coordinator").Tell(new Interrupt("interrupted by a signal")));
        return outcome.Task;
    }

    /// <summary>
    /// Runs the given member indices (null: whatever is missing) on this node; completes when they have all
    /// stopped, or the averager's node was lost. <paramref name="onEvent"/> sees every event of the node.
    /// <paramref name="secret"/>: the run secret this node proves (null: none).
    /// </summary>
    public static Task<MemberNodeFinished> StartMembers(ActorSystem system, IReadOnlyList<int>? indices, IReadOnlyList<string>? devices,
        RunSecret? secret, Action<IMemberNodeEvent>? onEvent = null)
    {
        var finished = new TaskCompletionSource<MemberNodeFinished>(TaskCreationOptions.RunContinuationsAsynchronously);
        var proxy = system.ActorOf(ClusterSingletonProxy.Props($"/user/{ManagerName}",
            ClusterSingletonProxySettings.Create(system).WithRole(AveragerRole)), "averager-proxy");
        var observer = system.ActorOf(Props.Create(() => new MemberNodeObserver(finished, onEvent)), "node-completion");
        system.ActorOf(MemberNode.Props(indices, devices, proxy, observer, secret), "members");
        return finished.Task;
    }

    /// <summary>
    /// A whole cluster run inside this process, on 127.0.0.1 with random ports: an averager node and one member
    /// node per group of member indices, each its own ActorSystem talking over Akka.Remote (for tests and
    /// benchmarks). <paramref name="nodes"/>: what every node shares (the run config, logging, test switches); the
    /// endpoint and role of each are set here. <paramref name="resumeCommand"/>: as for <see cref="StartAverager"/>.
    /// </summary>
    public static async Task<(IRunEvent Outcome, IReadOnlyList<MemberNodeFinished> Nodes)> RunInProcessAsync(
        PapaSystemSetup nodes, DataSplits data, string folder, string resumeCommand, IReadOnlyList<IReadOnlyList<int>> groups, TimeSpan timeout)
    {
        var run = RunConfig.From(nodes.Run);
        var systems = new List<ActorSystem>();
        ActorSystem Node(string role)
        {
            var system = (nodes with { Remote = NodeEndpoint.Loopback, ClusterRole = role, SeedNodes = [] }).Create(SystemName);
            systems.Add(system);
            return system;
        }
        try
        {
            var averager = Node(AveragerRole);
            var address = Akka.Cluster.Cluster.Get(averager).SelfAddress;
            Akka.Cluster.Cluster.Get(averager).Join(address);
            var outcome = StartAverager(averager, run, data, folder, resumeCommand);
            var members = groups.Select(indices =>
            {
                var node = Node(MemberRole);
                Akka.Cluster.Cluster.Get(node).Join(address);
                return StartMembers(node, indices, devices: null, RunSecret.Load(run.Settings.Secret.File));
            }).ToList();
            var result = await outcome.WaitAsync(timeout);
            return (result, await Task.WhenAll(members).WaitAsync(timeout));
        }
        finally
        {
            await Task.WhenAll(systems.Select(s => s.Terminate()));
        }
    }

    private sealed class MemberNodeObserver : ReceiveActor
    {
        public MemberNodeObserver(TaskCompletionSource<MemberNodeFinished> finished, Action<IMemberNodeEvent>? onEvent) =>
            Receive<IMemberNodeEvent>(e =>
            {
                onEvent?.Invoke(e);
                if (e is MemberNodeFinished f)
                    finished.TrySetResult(f);
            });
    }
}
