using System.Diagnostics;
using System.Text.Json.Nodes;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

public sealed class LocalClusterScriptTests
{
    private static readonly string[] Tiny =
    [
        "--set", "dataset=synthetic", "--set", "train-limit=600", "--set", "test-limit=200", "--set", "model-width=0.25",
        "--set", "batch-size=30", "--set", "batchnorm.reset-batches=2",
    ];

    [Fact]
    public void ThreeProcessesOnLoopbackGiveTheLocalRunsResults()
    {
        using var folder = new TempFolder();
        var config = RepositoryFiles.Path("hocon", "local-cluster.conf");
        var start = new ProcessStartInfo("bash");
        start.ArgumentList.Add(RepositoryFiles.Path("scripts", "local-cluster.sh"));
        foreach (var argument in new[] { "--out", folder.File("cluster"), "--port", Random.Shared.Next(20000, 40000).ToString() }.Concat(Tiny))
            start.ArgumentList.Add(argument);
        start.Environment["PAPA_DLL"] = Path.Combine(AppContext.BaseDirectory, "papa.dll");
        var script = Cli.Run(start, TimeSpan.FromMinutes(3), "scripts/local-cluster.sh");
        Assert.True(script.ExitCode == 0, script.Output);
        Assert.Contains("member node for members 2,3 started", script.Output);

        var local = Cli.Run(["run", "--config", config, .. Tiny, "--out", folder.File("local")]);
        Assert.True(local.ExitCode == 0, local.Output);

        JsonNode Results(string run) => JsonNode.Parse(File.ReadAllText(folder.File($"{run}/results.json")))!;
        foreach (var key in new[] { "members", "ensemble", "average_soup", "greedy_soup", "mean_member_test_accuracy" })
            Assert.Equal(Results("local")[key]!.ToJsonString(), Results("cluster")[key]!.ToJsonString());
        Assert.Equal(File.ReadAllBytes(folder.File("local/soup-greedy.safetensors")), File.ReadAllBytes(folder.File("cluster/soup-greedy.safetensors")));
        Assert.DoesNotContain(Process.GetProcessesByName("dotnet"), p => SafeCommandLine(p).Contains(folder.Path));
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
