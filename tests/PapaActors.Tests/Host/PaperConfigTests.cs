using System.Text.Json.Nodes;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

/// <summary>The paper's CIFAR configs in hocon/, run by the real program on small CIFAR-format folders.</summary>
public sealed class PaperConfigTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Theory]
    [InlineData("cifar10-resnet20", "resnet20", "cifar10")]
    [InlineData("cifar10-vgg16", "vgg16", "cifar10")]
    [InlineData("cifar100-resnet20", "resnet20", "cifar100")]
    [InlineData("cifar100-vgg16", "vgg16", "cifar100")]
    public void APaperConfigRunsOnACifarFolder(string config, string model, string dataset)
    {
        var data = _folder.File("data");
        Directory.CreateDirectory(data);
        if (dataset == "cifar10")
            DataFiles.WriteCifar10Folder(data, perFile: 40);
        else
            DataFiles.WriteCifar100Folder(data, train: 200, test: 40);
        var run = _folder.File("run");

        // The config as written, cut down to a few steps of a narrow model: 3 steps an epoch, a push every 3 steps.
        var result = Cli.Run("run", "--config", RepositoryFiles.Path("hocon", $"{config}.conf"), "--set", $"data-dir={data}",
            "--set", "epochs=2", "--set", "model-width=0.25", "--set", "ema-every-steps=3", "--set", "eval-batch-size=64",
            "--set", "batchnorm.reset-batches=2", "--out", run);

        Assert.True(result.ExitCode == 0, result.Output);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "results.json")))!;
        Assert.Equal((model, dataset, "papa", 3), ((string)results["model"]!, (string)results["dataset"]!, (string)results["method"]!, (int)results["population"]!));
        var variations = results["members"]!.AsArray().Select(m => m!["variation"]!.ToJsonString()).ToList();
        Assert.Equal(3, variations.Distinct().Count());
        var pushes = File.ReadLines(Path.Combine(run, "schedule.jsonl")).Count(l => l.Contains("\"push\""));
        Assert.True(pushes >= 1, "the schedule journal has no PAPA push");
        var resolved = File.ReadAllText(Path.Combine(run, "config.conf"));
        Assert.Contains("crop-flip", resolved);
    }
}
