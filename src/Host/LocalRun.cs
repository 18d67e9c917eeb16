using Akka.Actor;
using PapaActors.Actors;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Models;
using PapaActors.Models.Data;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>`papa run` and `papa resume`: the whole population in this process.</summary>
internal static class LocalRun
{
    /// <summary>hocon/default.conf, copied next to the program by the build.</summary>
    public static string DefaultConfig => Path.Combine(AppContext.BaseDirectory, "hocon", "default.conf");

    public static async Task<int> ExecuteAsync(string? configFile, IReadOnlyList<string> overrides, string? outFolder, bool verbose)
    {
        var run = RunConfig.Load(configFile ?? DefaultConfig, overrides);
        using var data = RunChecks.Local(run);
        return await RunFolder.InNewFolderAsync(outFolder, run.Settings, async folder =>
        {
            using var signals = InterruptSignals.ForRun(folder, CommandLines.Resume(folder));
            return await RunAsync(run, data, folder, RunStart.Fresh, verbose, signals);
        });
    }

    /// <summary>`papa resume RUN_DIR`: the run of that folder, from its newest valid checkpoint.</summary>
    public static async Task<int> ResumeAsync(string runFolder, bool verbose)
    {
        var (run, runLock) = RunResumption.Prepare(runFolder);
        using var heldLock = runLock;
        using var data = RunChecks.Local(run);
        var folder = Path.GetFullPath(runFolder);
        var start = RunResumption.StartFrom(folder, run, data);
        using var signals = InterruptSignals.ForRun(folder, CommandLines.Resume(folder));
        return await RunAsync(run, data, folder, start, verbose, signals);
    }

    /// <summary>
    /// One run in <paramref name="folder"/> (prepared and locked, or holding the run to resume) on <paramref name="data"/>
    /// (checked by <see cref="RunChecks"/>), with its output as `papa run` prints it; it stops at the next round
    /// boundary, writing a checkpoint, once <paramref name="signals"/> fire, and settles them with its outcome before
    /// the report. Returns the exit code of its outcome.
    /// </summary>
    public static async Task<int> RunAsync(RunConfig run, DataSplits data, string folder, RunStart start, bool verbose, InterruptSignals signals)
    {
        NLogSetup.Configure(Path.Combine(folder, NLogSetup.LogFile), verbose);
        var threads = TorchRuntime.ThreadsFor(run.Settings.TorchThreads, run.Settings.Population);
        TorchRuntime.Configure(threads);
        AnsiConsole.MarkupLineInterpolated(
            $"data: {data.Train.Count} train, {data.HeldOut.Count} held-out, {data.Test.Count} test images ({data.Shape}); {threads} torch thread(s) per member");

        using var system = new PapaSystemSetup(run.Config).Create("papa");
        var reporter = system.ActorOf(ConsoleReporter.Props(), "console");
        var resumeCommand = CommandLines.Resume(folder);
        var outcome = LocalPopulation.RunAsync(system, run, data, folder, resumeCommand, reporter, start, signals.Token);
        var result = await OutcomeOrTermination(outcome, system);
        signals.Settle(ExitCodeOf(result));
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        return Report(result, folder, resumeCommand);
    }

    /// <summary>The run's outcome, or a failure if the actor system terminates first: never a wait without an end.</summary>
    public static async Task<IRunEvent> OutcomeOrTermination(Task<IRunEvent> run, ActorSystem system)
    {
        var first = await Task.WhenAny(run, system.WhenTerminated);
        return first == run ? await run : new RunFailed("the actor system terminated before the run ended");
    }

    public static int ExitCodeOf(IRunEvent result) => result switch
    {
        RunCompleted => ExitCodes.Success,
        RunInterrupted => ExitCodes.Interrupted,
        _ => ExitCodes.RunFailed,
    };

    /// <summary>Prints the outcome of a run (table and plots, the interruption, or the failure) and returns the exit code.</summary>
    public static int Report(IRunEvent result, string folder, string resumeCommand)
    {
        switch (result)
        {
            case RunCompleted completed:
                ResultsTable.Print(completed.Results, folder);
                RunPlots.Write(folder);
                return ExitCodes.Success;
            case RunInterrupted interrupted:
                AnsiConsole.MarkupLineInterpolated(
                    $"[yellow]run interrupted[/] ({interrupted.Reason}); {(interrupted.CheckpointRound is { } round ? $"checkpoint of round {round}" : "no checkpoint yet: a resume starts over")}");
                AnsiConsole.MarkupLineInterpolated($"continue it with: {resumeCommand}");
                return ExitCodes.Interrupted;
            case RunFailed failed:
                AnsiConsole.MarkupLineInterpolated($"[red]run {failed.Status}:[/] {failed.Reason}");
                AnsiConsole.MarkupLineInterpolated($"What was written so far is in {folder}");
                if (failed.Status == RunStatus.Failed) // a diverged run would diverge again
                    AnsiConsole.MarkupLineInterpolated($"continue it from its last checkpoint with: {resumeCommand}");
                return ExitCodes.RunFailed;
            default:
                throw new InvalidOperationException($"unexpected outcome {result}");
        }
    }
}
