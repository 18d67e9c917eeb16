using PapaActors.Tests.Support;
using static PapaActors.Tests.Host.CommandLineTests;

namespace PapaActors.Tests.Scenarios;

/// <summary>The real `papa` program as a child process, where the process is what is tested: a whole run's output and exit code, the timeout of the process helper.</summary>
[Trait("Category", "Slow")]
public sealed class CommandLineProcessTests
{
    [Fact]
    public void AProgramThatDoesNotFinishIsKilledAtTheTimeout()
    {
        using var folder = new TempFolder();
        // An averager node without members waits for them forever.
        string[] arguments = ["node", "--role", "averager", .. Tiny, "--out", folder.File("run")];
        var error = Assert.Throws<TimeoutException>(() => PapaProcess.Run(TimeSpan.FromSeconds(2), arguments));
        Assert.StartsWith($"papa {string.Join(' ', arguments)} did not finish within 00:00:02; it was killed", error.Message);
    }

    [Fact]
    public void ATinyRunPrintsTheResultsTableAndWritesPlots()
    {
        using var folder = new TempFolder();
        var run = folder.File("run");
        var result = PapaProcess.Run(["run", .. Tiny, "--out", run]);

        Assert.True(result.ExitCode == 0, result.Output);
        foreach (var row in new[] { "members (mean)", "ensemble (mean of logits)", "average soup", "greedy soup", "samples/s" })
            Assert.Contains(row, result.Output);
        foreach (var file in new[] { "results.json", "metrics.csv", "schedule.jsonl", "config.conf", "run.log", "loss.png", "held-out-accuracy.png", "soup-average.safetensors" })
            Assert.True(File.Exists(Path.Combine(run, file)), $"{file} is missing");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], File.ReadAllBytes(Path.Combine(run, "loss.png"))[..4]);
        // Two members: their feature similarity is measured (on by default); papa's pushes are not (mix-gain = auto).
        Assert.True(File.Exists(Path.Combine(run, "feature-similarity.png")));
        Assert.False(File.Exists(Path.Combine(run, "mix-gain.png")));
    }

    [Fact]
    public void TheRepairBenchmarkPrintsParentsAndTheThreeAverages()
    {
        var result = PapaProcess.Run(["bench", "repair", .. Tiny]);

        Assert.True(result.ExitCode == 0, result.Output);
        var percentages = System.Text.RegularExpressions.Regex.Matches(result.Output, @"(\d+\.\d\d)%").Select(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(5, percentages.Count);
        Assert.All(percentages, p => Assert.InRange(p, 0, 100));
        foreach (var row in new[] { "parent 0", "parent 1", "BatchNorm buffers averaged", "BatchNorm re-estimated", "with REPAIR" })
            Assert.Contains(row, result.Output);
    }
}
