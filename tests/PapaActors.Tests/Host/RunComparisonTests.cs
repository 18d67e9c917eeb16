using System.Text.Json.Nodes;
using PapaActors.Actors.Configuration;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

/// <summary>`papa compare` on run folders written here as `papa run` writes them: config.conf and results.json.</summary>
public sealed class RunComparisonTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A completed run's folder; <paramref name="accuracies"/> are mean member, ensemble, average soup, greedy soup.</summary>
    private string Run(string name, int seed, double[] accuracies, params string[] settings)
    {
        var folder = _folder.File(name);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.conf"), RunConfig.Load(null, [$"seed={seed}", .. settings]).Text);
        ResultsFixtures.WriteCompleted(folder, seed, accuracies);
        return folder;
    }

    /// <summary>Three seeds of papa (with their own data folders and round timeouts) and one run of papa-2 with weight matching.</summary>
    private string[] FourRuns() =>
    [
        Run("papa-1", 1, [0.90, 0.92, 0.915, 0.91], "method=papa", "data-dir=/data/a", "round-timeout=5m"),
        Run("papa2-1", 1, [0.88, 0.90, 0.905, 0.89], "method=papa-2", "align=weight-matching"),
        Run("papa-2", 2, [0.91, 0.93, 0.925, 0.93], "method=papa", "data-dir=/data/b"),
        Run("papa-3", 3, [0.92, 0.94, 0.935, 0.95], "method=papa", "round-timeout=20m"),
    ];

    [Fact]
    public void CompareGroupsByTheDifferingResultSettingsAndGivesMeanAndSampleStdOverSeedsAsMarkdown()
    {
        var result = Cli.RunInProcess(["compare", .. FourRuns(), "--markdown"]);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Equal(
            """
            | group | runs | seeds | mean member (%) | ensemble (%) | average soup (%) | greedy soup (%) |
            |---|---:|---|---:|---:|---:|---:|
            | method = papa, align = none | 3 | 1, 2, 3 | 91.00 ± 1.00 | 93.00 ± 1.00 | 92.50 ± 1.00 | 93.00 ± 2.00 |
            | method = papa-2, align = weight-matching | 1 | 1 | 88.00 ± - | 90.00 ± - | 90.50 ± - | 89.00 ± - |

            """, result.Output);
    }

    [Fact]
    public void CompareOfRunsThatDifferOnlyInSeedPrintsOneGroupAsATable()
    {
        var result = Cli.RunInProcess("compare", Run("a", 1, [0.90, 0.92, 0.92, 0.91]), Run("b", 2, [0.91, 0.93, 0.93, 0.93]));

        Assert.True(result.ExitCode == 0, result.Output);
        var row = Assert.Single(result.Output.Split('\n'), line => line.Contains("all runs"));
        foreach (var cell in new[] { "1, 2", "90.50 ± 0.71", "92.50 ± 0.71", "92.00 ± 1.41" })
            Assert.Contains(cell, row);
    }

    [Fact]
    public void ARunFolderOfTheVersionWithTheChunkPathStillCompares()
    {
        var old = Run("old", 1, [0.90, 0.92, 0.92, 0.91]);
        var config = Path.Combine(old, "config.conf");
        File.WriteAllText(config, File.ReadAllText(config).Replace("papa.transfer.stream-above", "papa.transfer.chunk-bytes") + "papa.transfer.path = \"chunks\"\n");

        var result = Cli.RunInProcess("compare", old, Run("new", 2, [0.91, 0.93, 0.93, 0.93]));

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("all runs", result.Output);
    }

    [Fact]
    public void CompareWritesTheBarChartAsAPng()
    {
        var plot = _folder.File("compare.png");
        var result = Cli.RunInProcess(["compare", .. FourRuns(), "--plot", plot]);

        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("method = papa-2, align = weight-matching", result.Output);
        var png = File.ReadAllBytes(plot);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], png[..8]);
        Assert.True(png.Length > 10_000, $"a {png.Length}-byte PNG is too small to hold the chart");
        Assert.False(File.Exists(plot + ".partial"));
    }

    /// <summary>The bad folder follows a good one, so the error must name which; null content deletes the file.</summary>
    [Theory]
    [InlineData("results.json", null, "RUN has no results.json: the run may not have completed")]
    [InlineData("results.json", """{ "status": "failed", "reason": "member 0 threw" }""",
        "RUN/results.json: the run's status is 'failed', not 'completed', so it has no results (member 0 threw)")]
    [InlineData("results.json", """{ "status": "compl""", "RUN/results.json is not valid JSON")]
    [InlineData("results.json", "[1, 2]", "RUN/results.json is not valid JSON: not a JSON object")]
    [InlineData("results.json", """{ "seed": 1 }""", "RUN/results.json: 'status' is missing or not a string")]
    [InlineData("results.json", """{ "status": "completed", "seed": 1, "mean_member_test_accuracy": 0.9 }""",
        "RUN/results.json: 'method' is missing: expected a string")]
    [InlineData("config.conf", null, "RUN has no config.conf")]
    public void CompareRefusesARunFolderItCannotUseAndNamesIt(string file, string? content, string message)
    {
        var good = Run("good", 1, [0.9, 0.9, 0.9, 0.9]);
        var run = Run("bad", 2, [0.9, 0.9, 0.9, 0.9]);
        if (content is null)
            File.Delete(Path.Combine(run, file));
        else
            File.WriteAllText(Path.Combine(run, file), content);
        AssertRejectedWithoutPlot([good, run], message.Replace("RUN", run));
    }

    /// <summary>A completed run's results.json (as `papa run` writes it) with one field removed (null) or given another value.</summary>
    [Theory]
    [InlineData("ensemble.test_accuracy", null, "'ensemble.test_accuracy' is missing: expected a number")]
    [InlineData("phases", null, "'phases' is missing: expected an object")]
    [InlineData("members[1].variation.cutmix", null, "'members[1].variation.cutmix' is missing: expected a number")]
    [InlineData("seed", "\"7\"", "'seed' = \"7\" is not a whole number")]
    [InlineData("method", "null", "'method' = null is not a string")]
    [InlineData("repair", "0", "'repair' = 0 is not true or false")]
    [InlineData("members[0].variation.mixup", "true", "'members[0].variation.mixup' = true is not a number")]
    [InlineData("average_soup", "[]", "'average_soup' = [] is not an object")]
    [InlineData("greedy_soup.members_used", "{}", "'greedy_soup.members_used' = {} is not an array")]
    public void CompareNamesAFieldOfACompletedRunsResultsThatIsMissingOrOfTheWrongType(string field, string? value, string message)
    {
        var run = Run("bad", 2, [0.9, 0.9, 0.9, 0.9]);
        var file = Path.Combine(run, "results.json");
        var results = JsonNode.Parse(File.ReadAllText(file))!;
        var steps = field.Split('.');
        var parent = results;
        foreach (var step in steps[..^1])
            parent = step.Split('[') is [var array, var index] ? parent[array]![int.Parse(index.TrimEnd(']'))]! : parent[step]!;
        var name = steps[^1];
        if (value is null)
            parent.AsObject().Remove(name);
        else
            parent[name] = JsonNode.Parse(value);
        File.WriteAllText(file, results.ToJsonString());

        AssertRejectedWithoutPlot([Run("good", 1, [0.9, 0.9, 0.9, 0.9]), run], $"{file}: {message}");
    }

    /// <summary>/proc/self/mem is a regular file whose read at offset 0 fails with EIO, as a damaged disk's would.</summary>
    [Fact]
    public void CompareNamesAResultsJsonThatCannotBeRead()
    {
        var run = Run("bad", 2, [0.9, 0.9, 0.9, 0.9]);
        var file = Path.Combine(run, "results.json");
        File.Delete(file);
        File.CreateSymbolicLink(file, "/proc/self/mem");

        AssertRejectedWithoutPlot([run], $"{file} cannot be read (");
    }

    [Theory]
    [InlineData(0, 1e308, "'mean_member_test_accuracy' = 1E+308 is not an accuracy: expected a number from 0 to 1")]
    [InlineData(1, -5, "'ensemble.test_accuracy' = -5 is not an accuracy: expected a number from 0 to 1")]
    [InlineData(3, 1.0001, "'greedy_soup.test_accuracy' = 1.0001 is not an accuracy")]
    public void CompareRefusesAnAccuracyOutsideZeroToOneNamingTheFileAndField(int measure, double accuracy, string message)
    {
        double[] accuracies = [0.9, 0.9, 0.9, 0.9];
        accuracies[measure] = accuracy;
        var run = Run("bad", 2, accuracies);
        AssertRejectedWithoutPlot([Run("good", 1, [0.9, 0.9, 0.9, 0.9]), run], $"{Path.Combine(run, "results.json")}: {message}");
    }

    /// <summary>A folder where the plot should go, and a file system where no file can be made (procfs).</summary>
    [Theory]
    [InlineData("compare.png/", "it is a folder; give a file name such as compare.png")]
    [InlineData("/proc/papa-compare.png", "cannot write the plot /proc/papa-compare.png: ")]
    public void APlotThatCannotBeWrittenIsOneErrorLine(string plot, string message)
    {
        if (plot.EndsWith('/'))
            plot = Directory.CreateDirectory(_folder.File(plot.TrimEnd('/'))).FullName;
        var result = Cli.RunInProcess("compare", Run("a", 1, [0.9, 0.9, 0.9, 0.9]), "--plot", plot);
        Cli.AssertRejected(result, message);
        Assert.False(File.Exists(plot + ".partial"));
    }

    [Fact]
    public void CompareWithoutRunFoldersIsRefused() =>
        AssertRejectedWithoutPlot([], "papa compare needs at least one run folder");

    private void AssertRejectedWithoutPlot(string[] folders, string message)
    {
        var plot = _folder.File("compare.png");
        Cli.AssertRejected(Cli.RunInProcess(["compare", .. folders, "--plot", plot]), message);
        Assert.Empty(Directory.GetFiles(_folder.Path, "compare.png*"));
    }
}
