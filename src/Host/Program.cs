using System.CommandLine;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Data;
using PapaActors.Models.Weights;
using Spectre.Console;

namespace PapaActors.Host;

public static class Program
{
    public static int Main(string[] args)
    {
        // Spectre wraps redirected output at 80 columns; logs and CI read better unwrapped.
        if (Console.IsOutputRedirected)
            AnsiConsole.Profile.Width = 240;
        var configOption = new Option<string?>("--config", "-c") { Description = "HOCON file with keys under `papa` (default: hocon/default.conf; every key is documented in hocon/reference.conf)" };
        var setOption = new Option<string[]>("--set", "-s")
        {
            Description = "Override one key, e.g. --set papa.method=papa-all (the `papa.` prefix may be left out); repeatable",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var outOption = new Option<string?>("--out", "-o") { Description = "Run folder to create (default runs/<time>-<method>); must not exist or be empty" };
        var verboseOption = new Option<bool>("--verbose", "-v") { Description = "Also print info-level logs to the console" };

        var run = new Command("run", "Train a population on one machine, mix it with the configured PAPA method, and condense it into soups")
        {
            configOption, setOption, outOption, verboseOption,
        };
        run.SetAction(parse => Guard(() => LocalRun.ExecuteAsync(
            parse.GetValue(configOption), parse.GetValue(setOption) ?? [], parse.GetValue(outOption), parse.GetValue(verboseOption))));

        var stepsOption = new Option<int>("--steps") { Description = "Training steps per member", DefaultValueFactory = _ => 200 };
        var throughput = new Command("throughput", "Samples/s of a population of actors against the same members trained one after another")
        {
            configOption, setOption, stepsOption,
        };
        throughput.SetAction(parse => Guard(() => Benchmarks.ThroughputAsync(
            parse.GetValue(configOption), parse.GetValue(setOption) ?? [], parse.GetValue(stepsOption))));
        var bench = new Command("bench", "Measure and print figures") { throughput };

        var folderArgument = new Argument<string>("RUN_DIR") { Description = "A run folder written by `papa run` (config.conf and schedule.jsonl)" };
        var timeoutOption = new Option<TimeSpan>("--timeout") { Description = "Give up after this long", DefaultValueFactory = _ => TimeSpan.FromMinutes(5) };
        var replay = new Command("replay", "Recompute a run's schedule (no training) and check every decision against its journal; exit 1 at the first difference")
        {
            folderArgument, timeoutOption,
        };
        replay.SetAction(parse => Guard(() => Replay.ExecuteAsync(parse.GetValue(folderArgument)!, parse.GetValue(timeoutOption))));

        var root = new RootCommand("PapaActors: train a population of neural networks as Akka.NET actors and turn it into one model with PAPA")
        {
            run, replay, bench,
        };
        return root.Parse(args).Invoke();
    }

    /// <summary>Turns bad input into a one-line error and exit code 2, a failed run into exit code 1.</summary>
    private static int Guard(Func<Task<int>> action)
    {
        try
        {
            return action().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is ConfigException or DatasetFormatException or WeightLayoutException or JournalException or FileNotFoundException or ArgumentException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return ExitCodes.BadInput;
        }
        finally
        {
            NLogSetup.Shutdown();
        }
    }
}
