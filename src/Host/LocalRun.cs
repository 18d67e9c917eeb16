using Akka.Actor;
using Akka.Configuration;
using PapaActors.Actors;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Models;
using Spectre.Console;

namespace PapaActors.Host;

/// <summary>`papa run` and `papa resume`: the whole population in this process.</summary>
internal static class LocalRun
{
    /// <summary>hocon/default.conf, copied next to the program by the build.</summary>
    public static string DefaultConfig => Path.Combine(AppContext.BaseDirectory, "hocon", "default.conf");

    public static Task<int> ExecuteAsync(string? configFile, IReadOnlyList<string> overrides, string? outFolder, bool verbose)
    {
        var config = PapaConfig.Load(configFile ?? DefaultConfig, overrides);
        var settings = PapaSettings.FromConfig(config);
        var folder = RunFolder.Prepare(outFolder, settings);
        return RunWithSignalsAsync(config, settings, folder, RunStart.Fresh, verbose);
    }

    /// <summary>`papa resume RUN_DIR`: the run of that folder, from its newest valid checkpoint.</summary>
    public static Task<int> ResumeAsync(string runFolder, bool verbose)
    {
        var (config, settings, start) = RunResumption.Prepare(runFolder);
        return RunWithSignalsAsync(config, settings, Path.GetFullPath(runFolder), start, verbose);
    }

    private static async Task<int> RunWithSignalsAsync(Config config, PapaSettings settings, string folder, RunStart start, bool verbose)
    {
        using var signals = InterruptSignals.ForRun(folder, ResumeCommand(folder));
        return await RunAsync(config, settings, folder, start, verbose, signals.Token);
    }

    public static string ResumeCommand(string folder) => $"./papa resume {folder}";

    /// <summary>
    /// One run in <paramref name="folder"/> (prepared, or holding the run to resume), with its output as `papa run`
    /// prints it; it stops at the next round boundary, writing a checkpoint, once <paramref name="interrupt"/> fires.
    /// Returns the exit code of its outcome.
    /// </summary>
    public static async Task<int> RunAsync(Config config, PapaSettings settings, string folder, RunStart start, bool verbose, CancellationToken interrupt)
    {
        NLogSetup.Configure(Path.Combine(folder, NLogSetup.LogFile), verbose);
        var threads = TorchRuntime.ThreadsFor(settings.TorchThreads, settings.Population);
        TorchRuntime.Configure(threads);
        using var data = DataLoading.Load(settings);
        AnsiConsole.MarkupLineInterpolated(
            $"data: {data.Train.Count} train, {data.HeldOut.Count} held-out, {data.Test.Count} test images ({data.Shape}); {threads} torch thread(s) per member");

        using var system = new PapaSystemSetup(config).Create("papa");
        var reporter = system.ActorOf(ConsoleReporter.Props(), "console");
        var run = LocalPopulation.RunAsync(system, settings, PapaConfig.Render(config), data, folder, reporter, start, interrupt);
        var result = await OutcomeOrTermination(run, system);
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        return Report(result, folder, ResumeCommand(folder));
    }

    /// <summary>The run's outcome, or a failure if the actor system terminates first: never a wait without an end.</summary>
    public static async Task<IRunEvent> OutcomeOrTermination(Task<IRunEvent> run, ActorSystem system)
    {
        var first = await Task.WhenAny(run, system.WhenTerminated);
        return first == run ? await run : new RunFailed("the actor system terminated before the run ended");
    }

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
