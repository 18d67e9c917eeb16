using PapaActors.Tests.Support;
using static PapaActors.Tests.Support.RunFolders;

namespace PapaActors.Tests.Host;

/// <summary>
/// Lost member nodes on a real cluster of `papa node` processes over loopback: a member node killed with
/// kill -9 mid-run is downed, the Averager rolls back to its checkpoint and waits; a new node for the same
/// indices, and later a `--members auto` node for another lost node, take over; the run ends bit-identical to
/// the same run in one process.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ClusterFaultTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(4);

    /// <summary>A small PAPA run, and a failure detector quick enough for a test (the defaults wait ~30 s).</summary>
    private const string RunConfig = """
        papa {
          dataset = fashion-mnist
          data-dir = /usr/share/datasets/fashion-mnist
          train-limit = 2000
          test-limit = 500
          model = cnn
          model-width = 0.25
          population = 4
          epochs = 16
          batch-size = 50
          method = papa
          rho = 0.9
          torch-threads = 1
          checkpoint.every-epochs = 2
        }
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 3s
        akka.cluster.split-brain-resolver.stable-after = 2s
        """;

    private const string NodeConfig = """
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 3s
        akka.cluster.split-brain-resolver.stable-after = 2s
        """;

    [Fact]
    public void MemberNodesKilledMidRunAreReplacedByNodesForTheirIndicesOrForAnyAndTheRunIsBitIdenticalToTheLocalRun()
    {
        using var temp = new TempFolder();
        var runConfig = temp.File("run.conf");
        var nodeConfig = temp.File("node.conf");
        File.WriteAllText(runConfig, RunConfig);
        File.WriteAllText(nodeConfig, NodeConfig);
        var local = temp.File("local");
        using (var run = PapaProcess.Start("run", "--config", runConfig, "--out", local))
            Assert.True(run.WaitForExit(Patience) == 0, run.Output);

        // A run folder per port: an averager that could not bind its port has already written its folder.
        var (averagerNode, seed, clustered) = LoopbackPorts.Run(port =>
        {
            var node = PapaProcess.Start("node", "--role", "averager", "--port", port.ToString(), "--config", runConfig, "--out", temp.File($"cluster-{port}"));
            node.WaitUntil(() => node.Output.Contains("averager node at"), Patience, "the averager node");
            return (node, $"akka.tcp://papa@127.0.0.1:{port}", temp.File($"cluster-{port}"));
        });
        using var averager = averagerNode;
        PapaProcess Members(string members) => PapaProcess.Start("node", "--role", "member", "--seed-node", seed, "--members", members, "--config", nodeConfig);
        using var first = Members("0,1");
        using var second = Members("2,3");

        averager.WaitUntil(() => JournalRounds(clustered) >= 25, Patience, "25 rounds");
        Assert.DoesNotContain("failed to find an associated singleton", first.Output + second.Output); // a healthy start warns of nothing
        second.KillHard();
        using var replacement = Members("2,3");
        averager.WaitUntil(() => averager.Output.Contains("start a node for member(s) 2,3"), Patience, "the replacement command");
        replacement.WaitUntil(() => replacement.Output.Contains("running members 2, 3"), Patience, "the replacement's members");

        averager.WaitUntil(() => JournalRounds(clustered) >= 60, Patience, "60 rounds");
        first.KillHard();
        using var spare = Members("auto");
        spare.WaitUntil(() => spare.Output.Contains("running members 0, 1"), Patience, "the spare taking the missing members");

        Assert.True(averager.WaitForExit(Patience) == 0, averager.Output);
        Assert.Equal(0, replacement.WaitForExit(Patience));
        Assert.Equal(0, spare.WaitForExit(Patience));
        AssertSameRun(local, clustered);
        var faults = File.ReadAllText(Path.Combine(clustered, "faults.jsonl"));
        Assert.Contains("member-lost", faults);
        Assert.Contains("its node is unreachable", faults);
    }
}
