using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

/// <summary>
/// scripts/chaos.sh at a small size: a member node stopped past the failure detector's limit, the averager
/// killed and resumed, a member node killed and replaced, a member made to throw, all in one run of real
/// processes; the soups and the journal must equal the fault-free run's.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ChaosScriptTests
{
    [Fact]
    public void FourKindsOfFaultsLeaveTheSoupsAndJournalBitIdenticalToTheFaultFreeRun()
    {
        using var folder = new TempFolder();
        // A fault every ~10 rounds (5 to 15): the fourth comes by round 60 of the run's ~100 on any machine.
        using var chaos = PapaProcess.StartScript("chaos.sh", "--faults", "4", "--every-rounds", "10", "--seed", "1", "--set", "epochs=8", "--out", folder.File("chaos"),
            "--port", LoopbackPorts.Free().ToString()); // chaos.sh itself retries while its port is held

        var script = chaos.Finish(TimeSpan.FromMinutes(8));

        Assert.True(script.ExitCode == 0, script.Output);
        foreach (var kind in new[] { "stop-member", "kill-averager", "kill-member", "throw" })
            Assert.Contains($": {kind} ", script.Output);
        foreach (var file in new[] { "soup-average.safetensors", "soup-greedy.safetensors", "schedule.jsonl" })
            Assert.Contains($"{file}: sha256 ", script.Output);
        Assert.Equal(
            RunFolders.Sha256(folder.File("chaos/fault-free/soup-greedy.safetensors")),
            RunFolders.Sha256(folder.File("chaos/faulted/soup-greedy.safetensors")));
        Assert.Contains("goodput", script.Output);
    }
}
