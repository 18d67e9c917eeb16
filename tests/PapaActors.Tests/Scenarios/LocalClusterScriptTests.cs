using System.Diagnostics;
using System.Text.Json.Nodes;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Scenarios;

[Trait("Category", "Slow")]
public sealed class LocalClusterScriptTests
{
    private static readonly string[] Tiny =
    [
        "--set", "dataset=synthetic", "--set", "train-limit=600", "--set", "test-limit=200", "--set", "model-width=0.25",
        "--set", "batch-size=30", "--set", "batchnorm.reset-batches=2",
    ];

    /// <summary>With --tls every node speaks mutual TLS, with a certificate of its own made by `papa cert`.</summary>
    [Fact]
    public void ThreeProcessesOnLoopbackSpeakingMutualTlsGiveTheLocalRunsResults()
    {
        using var folder = new TempFolder();
        var config = RepositoryFiles.Path("hocon", "local-cluster.conf");
        // A run folder per port: an averager that could not bind its port has already written its folder.
        var (script, cluster) = LoopbackPorts.Run(port =>
        {
            using var script = PapaProcess.StartScript("local-cluster.sh",
                ["--out", folder.File($"cluster-{port}"), "--port", port.ToString(), "--tls", "--certs", folder.File("certs"), .. Tiny]);
            var result = script.Finish(TimeSpan.FromMinutes(3));
            Assert.True(result.ExitCode == 0, result.Output);
            return (result, $"cluster-{port}");
        });
        Assert.Contains("member node for members 2,3 started", script.Output);
        Assert.Contains("averager node up at akka.ssl.tcp://papa@127.0.0.1:", script.Output);
        Assert.True(File.Exists(folder.File("certs/node-2.pfx")));
        // Every node proved the run secret (a node without it is refused and the run would wait for it); the secret stays out of the run.
        var secret = File.ReadAllText(folder.File("certs/run.secret")).Trim();
        Assert.DoesNotContain(Directory.EnumerateFiles(folder.File(cluster), "*", SearchOption.AllDirectories), f => File.ReadAllText(f).Contains(secret, StringComparison.Ordinal));

        var local = PapaProcess.Run(["run", "--config", config, .. Tiny, "--out", folder.File("local")]);
        Assert.True(local.ExitCode == 0, local.Output);

        JsonNode Results(string run) => JsonNode.Parse(File.ReadAllText(folder.File($"{run}/results.json")))!;
        foreach (var key in new[] { "members", "ensemble", "average_soup", "greedy_soup", "mean_member_test_accuracy" })
            Assert.Equal(Results("local")[key]!.ToJsonString(), Results(cluster)[key]!.ToJsonString());
        Assert.Equal(File.ReadAllBytes(folder.File("local/soup-greedy.safetensors")), File.ReadAllBytes(folder.File($"{cluster}/soup-greedy.safetensors")));
        Assert.DoesNotContain(Process.GetProcessesByName("dotnet"), p => SafeCommandLine(p).Contains(folder.Path));
    }

    [Fact]
    public void OneCtrlCStopsTheScriptAndEveryNodeWithACheckpointAndTheResumeCommand()
    {
        using var folder = new TempFolder();
        // A run folder per port: an averager that could not bind its port has already written its folder.
        var (started, run, port) = LoopbackPorts.Run(port =>
        {
            var run = folder.File($"cluster-{port}");
            var script = PapaProcess.StartScript("local-cluster.sh",
                ["--out", run, "--port", port.ToString(), .. Tiny, "--set", "epochs=40", "--set", "checkpoint.every-epochs=0"]);
            script.WaitUntil(() => RunFolders.JournalRounds(run) >= 10, TimeSpan.FromMinutes(3), "10 rounds");
            return (script, run, port);
        });
        using var script = started;

        script.Interrupt();

        var exitCode = script.WaitForExit(TimeSpan.FromMinutes(2));
        Assert.True(exitCode == 130, $"exit code {exitCode}:\n{script.Output}");
        Assert.Contains("stopping: the averager finishes its round and writes a checkpoint", script.Output);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "results.json")))!;
        Assert.Equal("interrupted", (string)results["status"]!);
        Assert.Equal($"./papa node --role averager --resume {run}", (string)results["resume"]!);
        Assert.True(Directory.Exists(Path.Combine(run, "checkpoints", $"round-{(int)results["checkpoint_round"]!:D6}")));
        // No node is left behind: neither the averager (its --out) nor a member node (its --seed-node).
        Assert.DoesNotContain(Process.GetProcessesByName("dotnet"), p => SafeCommandLine(p).Contains(folder.Path) || SafeCommandLine(p).Contains($"127.0.0.1:{port}"));
    }

    private static string SafeCommandLine(Process process)
    {
        try
        {
            return File.ReadAllText($"/proc/{process.Id}/cmdline");
        }
        catch (IOException)
        {
            return "";
        }
    }
}
