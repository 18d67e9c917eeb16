using System.CommandLine;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Cluster;
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
        return Execute(args, AnsiConsole.Console, Console.Error);
    }

    /// <summary>
    /// The program with its output given: tests run bad-input cases in their own process this way, in
    /// milliseconds instead of a process start each. <paramref name="output"/> takes what the program prints
    /// (tables, `error:` lines, help), <paramref name="error"/> the command line's parse errors.
    /// </summary>
    public static int Execute(string[] args, IAnsiConsole output, TextWriter error)
    {
        var common = new CommonOptions();
        var root = new RootCommand("PapaActors: train a population of neural networks as Akka.NET actors and turn it into one model with PAPA")
        {
            Run(common), Resume(common), Sweep(common), Node(common), Cert(), Replay(), Compare(), Bench(common),
        };
        var previous = AnsiConsole.Console;
        AnsiConsole.Console = output;
        try
        {
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0) // bad flags are bad input like any other: one line, not a screen of help
            {
                PrintError($"{string.Join("; ", parse.Errors.Select(e => PapaConfig.Clip(OneLine(e.Message))))} ({CommandPath(parse)} --help shows the usage)");
                return ExitCodes.BadInput;
            }
            return parse.Invoke(new InvocationConfiguration { Output = output.Profile.Out.Writer, Error = error });
        }
        finally
        {
            AnsiConsole.Console = previous;
        }
    }

    /// <summary>Options that several commands take; made anew by each Execute, as an option records the commands it is added to.</summary>
    private sealed class CommonOptions
    {
        public readonly Option<string?> Config = new("--config", "-c") { Description = "HOCON file with keys under `papa` (default: hocon/default.conf; every key is documented in hocon/reference.conf)" };

        public readonly Option<string[]> Set = new("--set", "-s")
        {
            Description = "Override one key, e.g. --set papa.method=papa-all (the `papa.` prefix may be left out); repeatable",
            Arity = ArgumentArity.OneOrMore, // a bare --set is a mistake, not "no overrides"
        };

        public readonly Option<string?> Out = new("--out", "-o") { Description = "Run folder to create (default runs/<time>-<method>); must not exist or be empty" };
        public readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Also print info-level logs to the console" };
    }

    private static Command Run(CommonOptions common)
    {
        var run = new Command("run", "Train a population on one machine, mix it with the configured PAPA method, and condense it into soups")
        {
            common.Config, common.Set, common.Out, common.Verbose,
        };
        run.SetAction(parse => Guard(() => LocalRun.ExecuteAsync(
            parse.GetValue(common.Config), parse.GetValue(common.Set) ?? [], parse.GetValue(common.Out), parse.GetValue(common.Verbose))));
        return run;
    }

    private static Command Resume(CommonOptions common)
    {
        var runFolderArgument = new Argument<string>("RUN_DIR") { Description = "The folder of a run that was interrupted or failed (written by `papa run`)" };
        var resume = new Command("resume", "Continue a run from its newest valid checkpoint; the result is bit-identical to an uninterrupted run")
        {
            runFolderArgument, common.Verbose,
        };
        resume.SetAction(parse => Guard(() => LocalRun.ResumeAsync(parse.GetValue(runFolderArgument)!, parse.GetValue(common.Verbose))));
        return resume;
    }

    private static Command Sweep(CommonOptions common)
    {
        var setOption = new Option<string[]>("--set", "-s")
        {
            Description = "A key and its values, e.g. --set method=none,papa (commas inside [...] or {...} do not split); repeatable: every combination runs",
            Arity = ArgumentArity.OneOrMore, // a bare --set is a mistake, not "no overrides"
        };
        var seedsOption = new Option<string?>("--seeds") { Description = "The seeds each combination runs with: 1-3, 1,2,5 or 4" };
        var outOption = new Option<string?>("--out", "-o") { Description = "Folder of the run folders, one per combination and seed (named key=value_..._seed=N); compare.md and compare.png too" };
        var sweep = new Command("sweep", "Run every combination of the --set values times the seeds, one after another (skipping completed runs, resuming unfinished ones), then compare them")
        {
            common.Config, setOption, seedsOption, outOption, common.Verbose,
        };
        sweep.SetAction(parse => Guard(() => SweepCommand.ExecuteAsync(parse.GetValue(common.Config), parse.GetValue(setOption) ?? [],
            parse.GetValue(seedsOption), parse.GetValue(outOption), parse.GetValue(common.Verbose))));
        return sweep;
    }

    private static Command Bench(CommonOptions common)
    {
        var quickOption = new Option<bool>("--quick") { Description = "Smaller runs and fewer repeats: under 5 minutes on 2 cores" };
        var benchJsonOption = new Option<string>("--json") { Description = "Where to write the figures as JSON", DefaultValueFactory = _ => "bench.json" };
        var bench = new Command("bench", "Measure and print figures; without a subcommand, every benchmark in one table (also written to bench.json)")
        {
            BenchThroughput(common), BenchTransfer(common), BenchCluster(common), BenchRepair(common), BenchCheckpoint(), BenchCifarFiles(), quickOption, benchJsonOption,
        };
        bench.SetAction(parse => Guard(() => BenchSuite.RunAsync(parse.GetValue(quickOption), parse.GetValue(benchJsonOption)!)));
        return bench;
    }

    private static Command BenchThroughput(CommonOptions common)
    {
        var stepsOption = new Option<int>("--steps") { Description = "Training steps per member", DefaultValueFactory = _ => 200 };
        var throughput = new Command("throughput", "Samples/s of a population of actors against the same members trained one after another")
        {
            common.Config, common.Set, stepsOption,
        };
        throughput.SetAction(parse => Guard(() => Benchmarks.ThroughputAsync(
            parse.GetValue(common.Config), parse.GetValue(common.Set) ?? [], parse.GetValue(stepsOption))));
        return throughput;
    }

    private static Command BenchTransfer(CommonOptions common)
    {
        var repeatsOption = new Option<int>("--repeats") { Description = "Transfers per snapshot", DefaultValueFactory = _ => 20 };
        var tlsOption = TlsOption();
        var transfer = new Command("transfer", "Weight transfer throughput between two ActorSystems over loopback (resnet20, vgg11) on the stream connection")
        {
            common.Set, repeatsOption, tlsOption,
        };
        transfer.SetAction(parse => Guard(() => Benchmarks.TransferAsync(parse.GetValue(common.Set) ?? [], parse.GetValue(repeatsOption), parse.GetValue(tlsOption))));
        return transfer;
    }

    private static Command BenchCluster(CommonOptions common)
    {
        var tlsOption = TlsOption();
        var clusterOverhead = new Command("cluster", "Training time of the same run in one ActorSystem and as a 3-node cluster on loopback")
        {
            common.Config, common.Set, tlsOption,
        };
        clusterOverhead.SetAction(parse => Guard(() => Benchmarks.ClusterOverheadAsync(parse.GetValue(common.Config), parse.GetValue(common.Set) ?? [], parse.GetValue(tlsOption))));
        return clusterOverhead;
    }

    private static Option<bool> TlsOption() =>
        new("--tls") { Description = "The nodes speak mutual TLS (papa.cluster.tls), with throwaway certificates made in a temporary folder" };

    private static Command BenchRepair(CommonOptions common)
    {
        var repair = new Command("repair", "Test accuracy of the 50/50 average of two independently trained members: plain, BatchNorm re-estimated, REPAIR")
        {
            common.Config, common.Set,
        };
        repair.SetAction(parse => Guard(() => Benchmarks.RepairAsync(parse.GetValue(common.Config), parse.GetValue(common.Set) ?? [])));
        return repair;
    }

    private static Command BenchCheckpoint()
    {
        var populationOption = new Option<int>("--population") { Description = "Members in the checkpoint", DefaultValueFactory = _ => 4 };
        var checkpointRepeats = new Option<int>("--repeats") { Description = "Checkpoints written per model", DefaultValueFactory = _ => 5 };
        var checkpoint = new Command("checkpoint", "Checkpoint size, write, verify and load time for cnn, resnet20 and vgg16 (SGD momentum state)")
        {
            populationOption, checkpointRepeats,
        };
        checkpoint.SetAction(parse => Guard(() => Benchmarks.CheckpointAsync(parse.GetValue(populationOption), parse.GetValue(checkpointRepeats))));
        return checkpoint;
    }

    private static Command BenchCifarFiles()
    {
        var cifarFolder = new Argument<string>("DIR") { Description = "Folder to write (created if missing)" };
        var trainImagesOption = new Option<int>("--train") { Description = "Training images, over the five data_batch files", DefaultValueFactory = _ => 10_000 };
        var testImagesOption = new Option<int>("--test") { Description = "Test images", DefaultValueFactory = _ => 10_000 };
        var cifarFiles = new Command("cifar-files", "Write random CIFAR-10-format files, for measuring speed and memory without the real dataset")
        {
            cifarFolder, trainImagesOption, testImagesOption,
        };
        cifarFiles.SetAction(parse => Guard(() => CifarFiles.WriteAsync(parse.GetValue(cifarFolder)!, parse.GetValue(trainImagesOption), parse.GetValue(testImagesOption))));
        return cifarFiles;
    }

    private static Command Replay()
    {
        var folderArgument = new Argument<string>("RUN_DIR") { Description = "A run folder written by `papa run` (config.conf and schedule.jsonl)" };
        var timeoutOption = new Option<TimeSpan>("--timeout") { Description = "Give up after this long", DefaultValueFactory = _ => TimeSpan.FromMinutes(5) };
        var replay = new Command("replay", "Recompute a run's schedule (no training) and check every decision against its journal; exit 1 at the first difference")
        {
            folderArgument, timeoutOption,
        };
        replay.SetAction(parse => Guard(() => ReplayCommand.ExecuteAsync(parse.GetValue(folderArgument)!, parse.GetValue(timeoutOption))));
        return replay;
    }

    private static Command Compare()
    {
        var compareFolders = new Argument<string[]>("RUN_DIR")
        {
            Description = "Folders of completed runs (written by `papa run`: results.json and config.conf)",
            Arity = ArgumentArity.ZeroOrMore, // none is refused with exit code 2, like other bad input
        };
        var plotOption = new Option<string?>("--plot") { Description = "Also write the table as a bar chart to this PNG file", HelpName = "FILE.png" };
        var markdownOption = new Option<bool>("--markdown") { Description = "Print the table as GitHub markdown" };
        var compare = new Command("compare", "Test accuracies of runs as mean ± std over seeds, grouped by the settings in which the runs differ")
        {
            compareFolders, plotOption, markdownOption,
        };
        compare.SetAction(parse => Guard(() => Task.FromResult(
            RunComparison.Execute(parse.GetValue(compareFolders) ?? [], parse.GetValue(plotOption), parse.GetValue(markdownOption)))));
        return compare;
    }

    private static Command Cert()
    {
        var outOption = new Option<string>("--out", "-o") { Description = "Folder of the CA and the certificates; a CA already there (ca-key.pfx) signs the new ones", Required = true };
        var nodesOption = new Option<int?>("--nodes") { Description = "Certificates node-0 ... node-(N-1), also valid for localhost and 127.0.0.1" };
        var nameOption = new Option<string[]>("--name") { Description = "A certificate for this host name or IP address; repeatable" };
        var passwordOption = new Option<string?>("--password-file") { Description = "Protect every key file written with the password in this file (first line)" };
        var cert = new Command("cert", "Make a cluster's CA and its nodes' certificates (PFX) for papa.cluster.tls")
        {
            outOption, nodesOption, nameOption, passwordOption,
        };
        cert.SetAction(parse => Guard(() => CertCommand.ExecuteAsync(parse.GetValue(outOption)!, parse.GetValue(nodesOption),
            parse.GetValue(nameOption) ?? [], parse.GetValue(passwordOption))));
        return cert;
    }

    private static Command Node(CommonOptions common)
    {
        var roleOption = new Option<string>("--role")
        {
            Description = "averager: runs the Averager, the journal and the run folder; member: runs the members given by --members",
            Required = true,
        };
        roleOption.AcceptOnlyFromAmong(ClusterNodes.AveragerRole, ClusterNodes.MemberRole);
        var hostOption = new Option<string>("--hostname") { Description = "Address this node listens on", DefaultValueFactory = _ => "127.0.0.1" };
        var portOption = new Option<int>("--port") { Description = "Port this node listens on (0: any free port)", DefaultValueFactory = _ => 0 };
        var seedOption = new Option<string[]>("--seed-node")
        {
            Description = "Address of the averager node, akka.tcp://papa@HOST:PORT (members need it; an averager without one seeds itself)",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var membersOption = new Option<MemberSelection>("--members")
        {
            Description = "Member indices to run on this node, e.g. 0,1, or auto: whatever indices have no member (a spare node waits until one is missing)",
            CustomParser = ParseMembers,
        };
        var devicesOption = new Option<string[]?>("--devices") { Description = "Devices of this node's members (round-robin), e.g. cpu or cuda:0,cuda:1; default papa.devices", CustomParser = ParseList };
        var resumeOption = new Option<string?>("--resume") { Description = "averager: continue the run of this folder from its newest valid checkpoint (no --config/--set/--out)" };
        var node = new Command("node", "Run one node of a cluster run: `--role averager` once, `--role member` on every machine with members")
        {
            roleOption, hostOption, portOption, seedOption, membersOption, devicesOption, common.Config, common.Set, common.Out, resumeOption, common.Verbose,
        };
        node.SetAction(parse => Guard(() => parse.GetValue(roleOption) == ClusterNodes.AveragerRole
            ? NodeCommand.AveragerAsync(parse.GetValue(common.Config), parse.GetValue(common.Set) ?? [], parse.GetValue(common.Out), parse.GetValue(resumeOption),
                parse.GetValue(hostOption)!, parse.GetValue(portOption), parse.GetValue(seedOption) ?? [], parse.GetValue(common.Verbose))
            : NodeCommand.MemberAsync(parse.GetValue(common.Set) ?? [], parse.GetValue(common.Config), parse.GetValue(hostOption)!, parse.GetValue(portOption),
                parse.GetValue(seedOption) ?? [], MembersOf(parse.GetValue(membersOption)), parse.GetValue(devicesOption), parse.GetValue(common.Verbose))));
        return node;
    }

    private static string[] ParseList(System.CommandLine.Parsing.ArgumentResult result) =>
        result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();

    /// <summary>--members 0,1 or --members auto.</summary>
    private sealed record MemberSelection(IReadOnlyList<int>? Indices);

    private static IReadOnlyList<int>? MembersOf(MemberSelection? selection) =>
        selection is null ? throw new ConfigException("a member node needs --members 0,1,... or --members auto") : selection.Indices;

    private static MemberSelection ParseMembers(System.CommandLine.Parsing.ArgumentResult result)
    {
        if (result.Tokens is [{ Value: "auto" }])
            return new MemberSelection(null);
        var indices = new List<int>();
        foreach (var item in ParseList(result))
        {
            if (int.TryParse(item, out var index) && index >= 0)
                indices.Add(index);
            else
                result.AddError($"--members: '{item}' is not a member index (0, 1, ...) or auto");
        }
        return new MemberSelection(indices);
    }

    /// <summary>Turns bad input into a one-line error and exit code 2, a failed run into exit code 1.</summary>
    private static int Guard(Func<Task<int>> action)
    {
        try
        {
            return action().GetAwaiter().GetResult();
        }
        catch (Exception e) when (ExitCodes.IsBadInput(e))
        {
            PrintError(e.Message);
            return ExitCodes.BadInput;
        }
        finally
        {
            NLogSetup.Shutdown();
        }
    }

    /// <summary>`error: ` and the message on one line, which Spectre would wrap at the console's width.</summary>
    private static void PrintError(string message)
    {
        AnsiConsole.Markup("[red]error:[/] ");
        AnsiConsole.Profile.Out.Writer.WriteLine(OneLine(message));
    }

    private static string OneLine(string text) => Regex.Replace(text, @"\s*[\r\n]+\s*", " ").Trim();

    /// <summary>`papa` and the subcommands the parse got to, e.g. `papa bench transfer`.</summary>
    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result.Parent is CommandResult parent; result = parent)
            names.Insert(0, result.Command.Name);
        return string.Join(' ', ["papa", .. names]);
    }
}
