using PapaActors.Tests.Support;

namespace PapaActors.Tests.Scenarios;

/// <summary>
/// scripts/chaos.sh at a small size: a member made to throw, a member node killed and replaced by a node for its
/// indices, a member node stopped past the failure detector's limit, the averager killed and resumed, and another
/// member node killed and replaced by a `--members auto` node, all in one run of real processes; the soups and the
/// journal must equal the fault-free run's.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ChaosScriptTests
{
    [Fact]
    public void FourKindsOfFaultsLeaveTheSoupsAndJournalBitIdenticalToTheFaultFreeRun()
    {
        using var folder = new TempFolder();
        // Seed 5 orders the faults throw, kill-member, stop-member, kill-averager, kill-member; a fault every ~8
        // rounds (4 to 12): the fifth comes by round 60 of the run's ~100 on any machine.
        using var chaos = PapaProcess.StartScript("chaos.sh", "--faults", "5", "--every-rounds", "8", "--seed", "5", "--out", folder.File("chaos"),
            "--set", "epochs=8", "--set", "train-limit=1500", "--set", "batch-size=25", "--set", "ema-every-steps=5",
            "--port", LoopbackPorts.Free().ToString()); // chaos.sh itself retries while its port is held

        var script = chaos.Finish(TimeSpan.FromMinutes(8));

        Assert.True(script.ExitCode == 0, script.Output);
        foreach (var kind in new[] { "throw", "stop-member", "kill-averager" })
            Assert.Contains($": {kind} ", script.Output);
        Assert.Matches(@"kill-member node \d,\d \(replaced with --members \d,\d\)", script.Output);
        Assert.Matches(@"kill-member node \d,\d \(replaced with --members auto\)", script.Output);
        var averagerLogs = string.Concat(Directory.GetFiles(folder.File("chaos/logs"), "averager-*.log").Select(File.ReadAllText));
        Assert.Contains("start a node for member(s) ", averagerLogs); // the replacement hint, rendered by the averager's node
        foreach (var file in new[] { "soup-average.safetensors", "soup-greedy.safetensors", "schedule.jsonl" })
            Assert.Contains($"{file}: sha256 ", script.Output);
        Assert.Equal(
            RunFolders.Sha256(folder.File("chaos/fault-free/soup-greedy.safetensors")),
            RunFolders.Sha256(folder.File("chaos/faulted/soup-greedy.safetensors")));
        var faults = File.ReadAllText(folder.File("chaos/faulted/faults.jsonl"));
        Assert.Contains("its node is unreachable", faults);
        Assert.Contains("goodput", script.Output);
    }
}
