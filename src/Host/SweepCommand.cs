using System.Diagnostics;
using Akka.Configuration;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Files;
using PapaActors.Actors.Population;
using PapaActors.Models.Data;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>
/// `papa sweep`: every run of a <see cref="SweepGrid"/>, one after another in this process, each in its own
/// folder under --out; then the `papa compare` table of the whole grid. A second sweep with the same arguments
/// skips the runs that completed, resumes the interrupted or failed ones and starts the missing ones.
/// </summary>
internal static class SweepCommand
{
    private enum Step { Start, Resume, Skip }

    private sealed record SweepRun(string Name, string Folder, RunConfig Config, Step Step);

    public static async Task<int> ExecuteAsync(string? configFile, IReadOnlyList<string> sets, string? seeds, string? outFolder, bool verbose)
    {
        if (outFolder is null)
            throw new ConfigException("papa sweep needs --out DIR, the folder that holds the grid's run folders");
        var grid = SweepGrid.Parse(sets, seeds);
        var root = Path.GetFullPath(outFolder);
        if (File.Exists(root))
            throw new ConfigException($"--out {root} is a file, not a folder");
        // Every run is configured and checked against its folder before anything is written or run.
        var runs = grid.Combinations().Select(c =>
        {
            var config = RunConfig.Load(configFile ?? LocalRun.DefaultConfig, c.Overrides);
            var folder = Path.Combine(root, c.Name);
            return new SweepRun(c.Name, folder, config, StepFor(folder, config.Config));
        }).ToList();
        var rootCreated = !Directory.Exists(root);
        try
        {
            Directory.CreateDirectory(root);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot create the sweep folder {root}: {e.Message}", e);
        }

        using var signals = InterruptSignals.ForSweep();
        var clock = Stopwatch.StartNew();
        var durations = new List<TimeSpan>();
        var failed = new List<string>();
        var toRun = runs.Count(r => r.Step != Step.Skip);
        var interrupted = false;
        for (var i = 0; i < runs.Count; i++)
        {
            var run = runs[i];
            var position = $"[{i + 1}/{runs.Count}] {run.Name}";
            if (run.Step == Step.Skip)
            {
                AnsiConsole.MarkupLineInterpolated($"{position}: completed earlier, skipped");
                continue;
            }
            if (interrupted = signals.Token.IsCancellationRequested)
                break;
            var eta = durations.Count == 0 ? "" : $" (grid eta {Clock(durations.Average(d => d.TotalSeconds) * (toRun - durations.Count))})";
            AnsiConsole.MarkupLineInterpolated($"[bold]{position}[/]: {(run.Step == Step.Start ? "starting" : "resuming")}{eta}");
            var began = clock.Elapsed;
            int code;
            try
            {
                using var data = RunChecks.Local(run.Config);
                signals.Track(run.Folder);
                code = run.Step == Step.Start
                    ? await RunFolder.InNewFolderAsync(run.Folder, run.Config.Settings, _ => RunAsync(run, RunStart.Fresh, data, verbose, signals))
                    : await ResumeAsync(run, data, verbose, signals);
            }
            catch (Exception e) when (ExitCodes.IsBadInput(e))
            {
                if (rootCreated && !Directory.EnumerateFileSystemEntries(root).Any())
                    Directory.Delete(root); // refused before its first run began: the sweep leaves nothing behind
                throw new ConfigException($"{run.Name}: {e.Message}", e);
            }
            finally
            {
                signals.Track(null);
            }
            durations.Add(clock.Elapsed - began);
            if (code == ExitCodes.RunFailed)
                failed.Add(run.Name);
            if (interrupted = code == ExitCodes.Interrupted)
                break;
        }

        if (interrupted)
        {
            AnsiConsole.MarkupLineInterpolated($"[yellow]sweep interrupted[/] after {Clock(clock.Elapsed.TotalSeconds)}; run the same papa sweep command again to continue it");
            return ExitCodes.Interrupted;
        }
        var completed = runs.Where(r => ResultsFile.HasCompleted(r.Folder)).Select(r => r.Folder).ToList();
        AnsiConsole.MarkupLineInterpolated(
            $"sweep: {runs.Count} run(s) in {Clock(clock.Elapsed.TotalSeconds)}: {runs.Count - toRun} skipped, {runs.Count(r => r.Step == Step.Resume)} resumed, {runs.Count(r => r.Step == Step.Start)} started, {failed.Count} failed");
        if (completed.Count > 0)
            RunComparison.Execute(completed, Path.Combine(root, "compare.png"), markdown: false, Path.Combine(root, "compare.md"));
        if (failed.Count == 0)
            return ExitCodes.Success;
        AnsiConsole.MarkupLineInterpolated($"[red]failed:[/] {string.Join(", ", failed)}; run the same papa sweep command again to resume them");
        return ExitCodes.RunFailed;
    }

    /// <summary>
    /// What the sweep does with a run's folder: start a run in a missing or empty one, skip a completed run, resume
    /// any other. A run recorded with other result-changing settings (those a resume checks) is refused, naming the key.
    /// </summary>
    private static Step StepFor(string folder, Config config)
    {
        if (RunFolder.IsEmpty(folder))
            return Step.Start;
        var configFile = Path.Combine(folder, RunRecorder.ConfigFile);
        if (!File.Exists(configFile))
            throw new ConfigException($"{folder} is not a run folder (it has no {RunRecorder.ConfigFile}); move it away or choose another --out");
        var recorded = PapaConfig.Values(PapaConfig.LoadRecorded(configFile)).ToDictionary(v => v.Key, v => v.Value);
        var completed = ResultsFile.HasCompleted(folder);
        foreach (var (key, value) in PapaConfig.Values(config).Where(v => CheckpointIdentity.ChangesResults(v.Key)))
        {
            if (recorded[key] != value)
                throw new ConfigException(
                    $"{folder} holds a{(completed ? " completed" : "n unfinished")} run with {key} = {recorded[key]}, but this sweep sets {key} = {value}; "
                    + "move the folder away or choose another --out");
        }
        return completed ? Step.Skip : Step.Resume;
    }

    /// <summary>Continues an unfinished run of the grid, holding its folder's lock throughout.</summary>
    private static async Task<int> ResumeAsync(SweepRun run, DataSplits data, bool verbose, InterruptSignals signals)
    {
        using var runLock = RunFolderLock.Acquire(run.Folder);
        return await RunAsync(run, RunResumption.StartFrom(run.Folder, run.Config, data), data, verbose, signals);
    }

    private static Task<int> RunAsync(SweepRun run, RunStart start, DataSplits data, bool verbose, InterruptSignals signals)
    {
        RecordConfig(run);
        return LocalRun.RunAsync(run.Config, data, run.Folder, start, verbose, signals);
    }

    /// <summary>
    /// Writes the run's config.conf before anything else, so a folder this sweep made is always known as its run
    /// (one killed before its recorder started is resumed from round 0). A resumed run continues under this
    /// sweep's config: the result-changing settings are the recorded ones (checked), the operational ones
    /// (checkpoints, timeouts, fault injection) may be new, and config.conf records them.
    /// </summary>
    private static void RecordConfig(SweepRun run) =>
        WholeFile.Write(Path.Combine(run.Folder, RunRecorder.ConfigFile), temporary => File.WriteAllText(temporary, run.Config.Text));

    private static string Clock(double seconds) => Durations.Clock(TimeSpan.FromSeconds(seconds));
}
