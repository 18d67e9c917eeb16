using PapaActors.Actors.Replay;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>`papa replay RUN_DIR`: recompute a run's schedule and compare it with its journal.</summary>
internal static class ReplayCommand
{
    public static async Task<int> ExecuteAsync(string runFolder, TimeSpan timeout)
    {
        NLogSetup.Configure(null, verbose: false);
        var report = await ScheduleReplay.ReplayFolderAsync(runFolder, timeout);
        if (report.FirstDivergence is { } divergence)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]schedule differs[/] at {divergence}");
            return ExitCodes.RunFailed;
        }
        if (!report.Matches)
        {
            AnsiConsole.MarkupLineInterpolated(
                $"[red]incomplete journal[/]: the {report.RoundsChecked} rounds it records match, but it stops there without an end line ({report.RoundsPlanned} rounds planned)");
            return ExitCodes.RunFailed;
        }
        if (report.RunFailure is null)
            AnsiConsole.MarkupLineInterpolated($"replayed {report.RoundsChecked} rounds: every decision and every mix matches the journal");
        else
            AnsiConsole.MarkupLineInterpolated($"replayed the {report.RoundsChecked} rounds the run completed before it failed ({report.RunFailure}): every decision and every mix matches");
        return ExitCodes.Success;
    }
}
