using PapaActors.Actors.Configuration;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

/// <summary>`papa sweep` on input it refuses, and on run folders written here as a completed run leaves them (no training).</summary>
public sealed class SweepCommandTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string TinyConfigFile()
    {
        var file = _folder.File("tiny.conf");
        File.WriteAllText(file, TestSettings.TinyRun().Text);
        return file;
    }

    [Theory]
    [InlineData("--seeds 1 --set method=", "--set method=: an empty value")]
    [InlineData("--seeds 1 --set method=none,,papa", "--set method=none,,papa: an empty value")]
    [InlineData("--seeds 1 --set method=papa --set papa.method=none", "the key 'method' is given twice")]
    [InlineData("--seeds 1 --set method=papa,none,papa", "the value 'papa' is given twice")]
    [InlineData("--seeds 1 --set seed=1,2", "--set seed=1,2: the seeds of a sweep are given with --seeds")]
    [InlineData("--seeds 1 --set method", "--set expects key=value,value,..., got 'method'")]
    [InlineData("--seeds 3-1", "--seeds 3-1: '3-1' is not a seed")]
    [InlineData("--seeds 1,x", "--seeds 1,x: 'x' is not a seed")]
    [InlineData("--seeds 1-3,2", "--seeds 1-3,2: the seed 2 is given twice")]
    [InlineData("--set method=papa", "papa sweep needs --seeds")]
    [InlineData("--seeds 1 --set bogus=1,2", "unknown key 'papa.bogus'")]
    [InlineData("--seeds 1 --set method=papa,papa3", "'papa.method' = 'papa3' is not allowed")] // every combination is checked, not only the first
    [InlineData("--seeds 1 --set epochs=1 --set optimizer.lr=0.1,-1", "'papa.optimizer.lr' = '-1'")]
    public void ABadGridIsOneErrorLineAndExitCode2AndNothingIsWritten(string arguments, string message)
    {
        var output = _folder.File("sweep");
        Cli.AssertRejected(Cli.RunInProcess(["sweep", "--config", TinyConfigFile(), .. arguments.Split(' '), "--out", output]), message);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void ASweepWithoutOutIsRefused() =>
        Cli.AssertRejected(Cli.RunInProcess("sweep", "--config", TinyConfigFile(), "--seeds", "1", "--set", "method=papa,none"), "papa sweep needs --out DIR");

    /// <summary>
    /// A completed run's folder as `papa run` leaves it (config.conf, results.json), configured as the sweep configures
    /// it: the sweep skips it, which shows that the folder name is the one the sweep gives that combination.
    /// </summary>
    private void CompletedRun(string sweep, string name, params string[] overrides)
    {
        var folder = Path.Combine(sweep, name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.conf"), RunConfig.Load(TinyConfigFile(), overrides).Text);
        ResultsFixtures.WriteCompleted(folder, long.Parse(overrides[^1]["seed=".Length..]), [0.9, 0.92, 0.91, 0.93]);
    }

    [Fact]
    public void FolderNamesFollowTheSetOrderWithoutPapaAndEncodeCharactersUnsafeInANameAndBracketsKeepTheirCommas()
    {
        var sweep = _folder.File("sweep");
        CompletedRun(sweep, "epochs=3_variations.mixup=[0.0,0.4]_data-dir=%2Fdata%2Fa%5Fb%3Dc_seed=4", "epochs=3", "variations.mixup=[0.0, 0.4]", "data-dir=/data/a_b=c", "seed=4");
        CompletedRun(sweep, "epochs=3_variations.mixup=[0.0,0.8]_data-dir=%2Fdata%2Fa%5Fb%3Dc_seed=4", "epochs=3", "variations.mixup=[0.0,0.8]", "data-dir=/data/a_b=c", "seed=4");

        var result = Cli.RunInProcess("sweep", "--config", TinyConfigFile(), "--seeds", "4", "--set", "papa.epochs=3",
            "--set", "variations.mixup=[0.0, 0.4],[0.0,0.8]", "--set", "data-dir=/data/a_b=c", "--out", sweep);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("[1/2] epochs=3_variations.mixup=[0.0,0.4]_data-dir=%2Fdata%2Fa%5Fb%3Dc_seed=4: completed earlier, skipped", result.Output);
        Assert.Contains("[2/2] epochs=3_variations.mixup=[0.0,0.8]_data-dir=%2Fdata%2Fa%5Fb%3Dc_seed=4: completed earlier, skipped", result.Output);
        Assert.Contains("2 skipped, 0 resumed, 0 started, 0 failed", result.Output);
        Assert.Contains("| variations.mixup = [0.0, 0.4] | 1 | 4 |", File.ReadAllText(Path.Combine(sweep, "compare.md")));
        Assert.Contains("| variations.mixup = [0.0, 0.8] | 1 | 4 |", File.ReadAllText(Path.Combine(sweep, "compare.md")));
        Assert.True(File.Exists(Path.Combine(sweep, "compare.png")));
    }

    [Fact]
    public void AFolderOfTheGridThatHoldsNoRunIsRefusedBeforeAnyRunStarts()
    {
        var sweep = _folder.File("sweep");
        Directory.CreateDirectory(Path.Combine(sweep, "method=none_seed=2"));
        File.WriteAllText(Path.Combine(sweep, "method=none_seed=2", "notes.txt"), "mine");

        var result = Cli.RunInProcess("sweep", "--config", TinyConfigFile(), "--seeds", "1,2", "--set", "method=papa,none", "--out", sweep);

        Cli.AssertRejected(result, $"{Path.Combine(sweep, "method=none_seed=2")} is not a run folder (it has no config.conf)");
        Assert.Equal(["method=none_seed=2"], Directory.GetFileSystemEntries(sweep).Select(Path.GetFileName));
    }
}
