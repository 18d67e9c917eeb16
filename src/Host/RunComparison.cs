using System.Globalization;
using System.Text;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Files;
using PapaActors.Actors.Population;
using ScottPlot;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>
/// `papa compare RUN_DIR...`: the test accuracies of completed runs as mean ± std over the runs of each group,
/// a group being the runs that agree on every result-changing setting but the seed.
/// </summary>
internal static class RunComparison
{
    private static readonly string[] Measures = ["mean member", "ensemble", "average soup", "greedy soup"];
    private static readonly (string Field, Func<ResultsFile.Completed, double> Of)[] Fields =
    [
        ("mean_member_test_accuracy", r => r.MeanMemberTestAccuracy), ("ensemble.test_accuracy", r => r.Ensemble.TestAccuracy),
        ("average_soup.test_accuracy", r => r.AverageSoup.TestAccuracy), ("greedy_soup.test_accuracy", r => r.GreedySoup.TestAccuracy),
    ];

    // The seed is what a group averages over; data-dir only says where the dataset is (papa.dataset says which).
    private static readonly string[] Ignored = ["papa.seed", "papa.data-dir"];

    private sealed record Run(long Seed, double[] Accuracies, Dictionary<string, string> Settings);

    private sealed record Group(string Label, IReadOnlyList<Run> Runs)
    {
        /// <summary>Mean and sample standard deviation (n - 1) in %; no deviation for a single run.</summary>
        public (double Mean, double? Std) Summary(int measure)
        {
            var values = Runs.Select(r => r.Accuracies[measure] * 100).ToList();
            var mean = values.Average();
            return (mean, values.Count > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1)) : null);
        }
    }

    /// <param name="markdownFile">Where to write the table as markdown too (`papa sweep`'s compare.md), if anywhere.</param>
    public static int Execute(IReadOnlyList<string> folders, string? plotFile, bool markdown, string? markdownFile = null)
    {
        if (folders.Count == 0)
            throw new ConfigException("papa compare needs at least one run folder: papa compare RUN_DIR...");
        if (plotFile is not null && !Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(plotFile))))
            throw new ConfigException($"cannot write the plot {plotFile}: its folder does not exist");
        if (plotFile is not null && Directory.Exists(plotFile))
            throw new ConfigException($"cannot write the plot {plotFile}: it is a folder; give a file name such as compare.png");
        var groups = Grouped(folders.Select(Read).ToList());

        string[] header = ["group", "runs", "seeds", .. Measures.Select(m => $"{m} (%)")];
        var rows = groups.Select(g => (string[])[g.Label, $"{g.Runs.Count}", string.Join(", ", g.Runs.Select(r => r.Seed)),
            .. Measures.Select((_, m) => Cell(g.Summary(m)))]).ToList();
        if (markdown)
            AnsiConsole.Profile.Out.Writer.Write(Markdown(header, rows)); // as is: markdown is not Spectre markup
        else
        {
            var table = new Table().Title("[bold]Test accuracy, mean ± std over runs[/]")
                .AddColumns(header.Select((name, i) => new TableColumn(name) { Alignment = i is 0 or 2 ? Justify.Left : Justify.Right }).ToArray());
            foreach (var row in rows)
                table.AddRow(row.Select(cell => new Text(cell))); // Text: labels such as `devices = [cpu]` are not markup
            AnsiConsole.Write(table);
        }

        if (markdownFile is not null)
            Write("the table", markdownFile, temporary => File.WriteAllText(temporary, Markdown(header, rows)));
        if (plotFile is not null)
        {
            Write("the plot", plotFile, temporary => Plot(groups).SavePng(temporary, Math.Max(800, 220 * groups.Count + 250), 550));
            Console.Error.WriteLine($"plot written to {plotFile}"); // stderr: stdout stays a table to paste
        }
        return ExitCodes.Success;
    }

    /// <summary>Writes a whole file, or refuses with one line naming it (a read-only or full file system, a folder in the way).</summary>
    private static void Write(string what, string file, Action<string> write)
    {
        try
        {
            WholeFile.Write(file, write);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot write {what} {file}: {e.Message}", e);
        }
    }

    private static Run Read(string folder)
    {
        var results = ResultsFile.ReadCompleted(folder);
        var configFile = Path.Combine(folder, RunRecorder.ConfigFile);
        if (!File.Exists(configFile))
            throw new ConfigException($"{folder} has no {RunRecorder.ConfigFile}, which says what the run was configured with");
        var settings = PapaConfig.Values(PapaConfig.LoadRecorded(configFile)).ToDictionary(s => s.Key, s => s.Value);
        var resultsFile = Path.Combine(folder, ResultsFile.Name);
        return new Run(results.Seed, Fields.Select(f => Accuracy(f.Of(results), f.Field, resultsFile)).ToArray(), settings);
    }

    private static double Accuracy(double accuracy, string field, string file) =>
        accuracy is >= 0 and <= 1
            ? accuracy
            : throw new ConfigException($"{file}: '{field}' = {accuracy.ToString(CultureInfo.InvariantCulture)} is not an accuracy: expected a number from 0 to 1");

    /// <summary>Groups runs by the result-changing settings in which they differ, in the order the runs were given.</summary>
    private static IReadOnlyList<Group> Grouped(IReadOnlyList<Run> runs)
    {
        var differing = runs[0].Settings.Keys
            .Where(key => CheckpointIdentity.ChangesResults(key) && !Ignored.Contains(key))
            .Where(key => runs.Select(r => r.Settings[key]).Distinct().Count() > 1)
            .ToList();
        return runs
            .GroupBy(r => differing.Count == 0 ? "all runs" : string.Join(", ", differing.Select(key => $"{key[(PapaConfig.Root.Length + 1)..]} = {r.Settings[key]}")))
            .Select(g => new Group(g.Key, g.ToList()))
            .ToList();
    }

    private static string Cell((double Mean, double? Std) summary) =>
        $"{Percent(summary.Mean)} ± {(summary.Std is { } std ? Percent(std) : "-")}";

    private static string Percent(double value) => value.ToString("0.00", CultureInfo.InvariantCulture);

    private static string Markdown(string[] header, IEnumerable<string[]> rows)
    {
        static string Line(IEnumerable<string> cells) => "| " + string.Join(" | ", cells.Select(c => c.Replace("|", "\\|"))) + " |\n";
        var text = new StringBuilder(Line(header));
        text.Append("|---|---:|---|").Append(string.Concat(Measures.Select(_ => "---:|"))).Append('\n');
        foreach (var row in rows)
            text.Append(Line(row));
        return text.ToString();
    }

    /// <summary>Groups on x, a bar per measure with its std as error bar; y zoomed to the data, since accuracies differ by little.</summary>
    private static Plot Plot(IReadOnlyList<Group> groups)
    {
        const double barWidth = 0.2; // four bars fill 0.8 of a group's slot
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var (low, high) = (double.MaxValue, double.MinValue);
        for (var m = 0; m < Measures.Length; m++)
        {
            for (var g = 0; g < groups.Count; g++)
            {
                var (mean, std) = groups[g].Summary(m);
                plot.Add.Bar(new Bar { Position = g + (m - 1.5) * barWidth, Value = mean, Error = std ?? 0, ErrorSize = barWidth * 0.4, Size = barWidth * 0.9, FillColor = palette.GetColor(m) });
                (low, high) = (Math.Min(low, mean - (std ?? 0)), Math.Max(high, mean + (std ?? 0)));
            }
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = Measures[m], FillColor = palette.GetColor(m) });
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            groups.Select((g, i) => new Tick(i, g.Label.Replace(", ", "\n"))).ToArray());
        plot.Axes.Bottom.MajorTickStyle.Length = 0;
        var margin = Math.Max((high - low) * 0.15, 0.5);
        plot.Axes.SetLimits(-0.5, groups.Count - 0.5, low - margin, high + margin);
        plot.Title("Test accuracy over seeds (mean ± std)");
        plot.YLabel("test accuracy (%)");
        plot.ShowLegend(Edge.Right);
        return plot;
    }
}
