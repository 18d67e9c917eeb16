using PapaActors.Actors.Messages;
using Spectre.Console;

namespace PapaActors.Host;

internal static class ResultsTable
{
    public static void Print(RunResults results, string folder)
    {
        var members = results.Members.Select(m => m.TestAccuracy).ToList();
        var table = new Table().Title("[bold]Test accuracy[/]").AddColumn("model").AddColumn(new TableColumn("accuracy").RightAligned()).AddColumn("notes");
        table.AddRow("members (mean)", Percent(members.Average()), $"min {Percent(members.Min())}, max {Percent(members.Max())}, n = {members.Count}");
        table.AddRow("ensemble (mean of logits)", Percent(results.EnsembleTestAccuracy), "upper reference, costs p models");
        table.AddRow("[bold]average soup[/]", $"[bold]{Percent(results.AverageSoup.TestAccuracy)}[/]", $"all {results.AverageSoup.MembersUsed.Count} members");
        table.AddRow("[bold]greedy soup[/]", $"[bold]{Percent(results.GreedySoup.TestAccuracy)}[/]", $"members {string.Join(", ", results.GreedySoup.MembersUsed)}");
        AnsiConsole.Write(table);
        var rate = results.TrainingSeconds > 0 ? results.TrainingSamples / results.TrainingSeconds : 0;
        var phases = results.Phases;
        AnsiConsole.MarkupLineInterpolated(
            $"{results.TrainingSamples} training samples in {results.TrainingSeconds:0.0} s ({rate:0} samples/s; waiting {phases.WaitingSeconds:0.0} s, averaging {phases.AveragingSeconds:0.0} s), finishing {phases.FinishingSeconds:0.0} s, peak RSS {phases.PeakRssBytes / 1e9:0.00} GB. Run folder: [link]{folder}[/]");
    }

    private static string Percent(double accuracy) => $"{accuracy * 100:0.00}%";
}
