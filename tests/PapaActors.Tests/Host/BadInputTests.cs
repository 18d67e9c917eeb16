using CsCheck;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

/// <summary>
/// Config text, `--set` values and flags from outside (issue 25's probes, then random mutations of real configs and
/// command lines): each is exit code 2 and one `error:` line naming the problem, never a hang, an overflow or a
/// stack trace, and leaves no run folder. `papa compare`'s probes are in <see cref="RunComparisonTests"/>.
/// </summary>
public sealed class BadInputTests
{
    private static readonly string Long100KbKey = new('k', 100_000);
    private static readonly string Long2MbValue = new('v', 2_000_000);

    /// <summary>A probe's config file text and what its error line says after the file name.</summary>
    private static readonly Dictionary<string, (string Text, string Error)> ConfigProbes = new()
    {
        ["unresolved optional substitution"] = ("papa.data-dir = ${?UNDEFINED}\n", "line 1: substitutions (${...}) are not supported"),
        ["environment substitution"] = ("papa {\n  data-dir = ${?HOME}\n}\n", "line 2: substitutions (${...}) are not supported"),
        ["self-referencing substitution"] = ("papa.epochs = ${papa.epochs}\n", "line 1: substitutions (${...}) are not supported"),
        ["100k nested brackets"] = ($"papa.variations.mixup = {new string('[', 100_000)}{new string(']', 100_000)}\n", "line 1: nested deeper than 32 levels"),
        ["20k nested empty objects"] = ($"papa.x = {new string('{', 20_000)}{new string('}', 20_000)}\n", "line 1: nested deeper than 32 levels"),
        ["100k dots in a key"] = ($"papa{string.Concat(Enumerable.Repeat(".a", 100_000))} = 1\n", "line 1: a key nested deeper than 32 levels"),
        ["include after a form feed"] = ("papa.epochs = 1\n\finclude \"/etc/passwd\"\n", "`include \"/etc/passwd\"` is not supported"),
        ["empty object for a section"] = ("papa.optimizer = {}\n", "'papa.optimizer' is an empty object: give its keys or leave it out"),
        ["list for a number"] = ("papa.batch-size = [1]\n", "'papa.batch-size' must be a single value, not a list"),
        ["list of lists"] = ("papa.devices = [[cpu]]\n", "'papa.devices' must be a list of single values such as [a, b], not of lists or objects"),
        ["unknown akka key"] = ("akka.bogus.key = 1\n", "unknown key 'akka.bogus.key': Akka has no such setting"),
        ["100 KB key"] = ($"papa.{Long100KbKey} = 1\n", $"unknown key 'papa.{Long100KbKey[..95]}... (100005 characters)'"),
        ["removed transfer.path"] = ("papa.transfer {\n  path = chunks\n}\n",
            "'papa.transfer.path' was removed: a message above papa.transfer.stream-above always takes the stream connection (the chunk path is gone); delete the key"),
        ["renamed transfer.chunk-bytes"] = ("papa.transfer.chunk-bytes = 64KiB\n",
            "'papa.transfer.chunk-bytes' was removed: it is now 'papa.transfer.stream-above', the size above which a message takes the stream connection"),
        ["2 MB value"] = ($"papa.method = \"{Long2MbValue}\"\n", $"'papa.method' = '{Long2MbValue[..100]}... (2000000 characters)' is not allowed"),
    };

    public static TheoryData<string> ConfigProbeNames() => new(ConfigProbes.Keys);

    [Theory]
    [MemberData(nameof(ConfigProbeNames))]
    public void ABadConfigFileIsOneErrorLineAndNoRunFolder(string probe)
    {
        var (text, error) = ConfigProbes[probe];
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("run.conf"), text);

        var result = Cli.RunInProcess("run", "--config", folder.File("run.conf"), "--out", folder.File("run"));

        // Errors from a key's or value's own text name the key, not the file.
        AssertRejectedInShort(result, error.StartsWith("line", StringComparison.Ordinal) || error.StartsWith("`include", StringComparison.Ordinal)
            ? $"{folder.File("run.conf")}: {error}"
            : error);
        Assert.False(Directory.Exists(folder.File("run")), "no run folder is made for a rejected config");
    }

    [Theory]
    [InlineData("epochs=[${papa.epochs}]", "--set epochs=[${papa.epochs}]: line 1: substitutions (${...}) are not supported")]
    [InlineData("x={\finclude \"/etc/passwd\"}", "--set x={\finclude \"/etc/passwd\"}: `include \"/etc/passwd\"` is not supported")]
    [InlineData("optimizer={}", "'papa.optimizer' is an empty object")]
    [InlineData("akka.bogus.key=1", "unknown key 'akka.bogus.key': Akka has no such setting")]
    [InlineData("transfer.path=stream", "'papa.transfer.path' was removed: a message above papa.transfer.stream-above always takes the stream connection")]
    [InlineData("papa.transfer.chunk-bytes=1MiB", "'papa.transfer.chunk-bytes' was removed: it is now 'papa.transfer.stream-above'")]
    [InlineData("NESTED", "line 1: nested deeper than 32 levels")]
    [InlineData("DOTS", "line 1: a key nested deeper than 32 levels")]
    [InlineData("LONG-KEY", "unknown key 'papa.kkkkkkkkkk")]
    [InlineData("LONG-VALUE", "'papa.method' = 'vvvvvvvvvv")]
    public void ABadSetValueIsOneErrorLineAndNoRunFolder(string assignment, string error)
    {
        assignment = assignment switch
        {
            "NESTED" => $"x={new string('{', 20_000)}{new string('}', 20_000)}",
            "DOTS" => $"a{string.Concat(Enumerable.Repeat(".a", 100_000))}=1",
            "LONG-KEY" => $"{Long100KbKey}=1",
            "LONG-VALUE" => $"method={Long2MbValue}",
            _ => assignment,
        };
        using var folder = new TempFolder();

        var result = Cli.RunInProcess("run", "--set", assignment, "--out", folder.File("run"));

        AssertRejectedInShort(result, error);
        Assert.False(Directory.Exists(folder.File("run")), "no run folder is made for a rejected --set");
    }

    /// <summary>A config file that is not a regular file is named before it is opened: a FIFO would block the read, a device never end it.</summary>
    [Theory]
    [InlineData("fifo", "a FIFO (named pipe), not a regular file")]
    [InlineData("/dev/zero", "a character device, not a regular file")]
    [InlineData("directory", "a directory, not a regular file")]
    public void AConfigFileThatIsNotARegularFileIsNamedWithoutBeingOpened(string kind, string problem)
    {
        using var folder = new TempFolder();
        var file = folder.File("run.conf");
        switch (kind)
        {
            case "fifo":
                TempFolder.MakeFifo(file);
                break;
            case "directory":
                Directory.CreateDirectory(file);
                break;
            default:
                File.CreateSymbolicLink(file, kind); // a user's config may be a link, to a regular file
                break;
        }

        var result = Cli.RunInProcess("run", "--config", file, "--out", folder.File("run"));

        AssertRejectedInShort(result, $"{file}: {problem}");
        Assert.False(Directory.Exists(folder.File("run")), "no run folder is made for a rejected config");
    }

    [Theory]
    [InlineData("akka.loglevel=DEBUG")]
    [InlineData("akka.cluster.split-brain-resolver.stable-after=3s")]
    [InlineData("akka.cluster.failure-detector.acceptable-heartbeat-pause=3s")]
    [InlineData("akka.remote.dot-netty.tcp.maximum-frame-size=256000b")]
    [InlineData("akka.cluster.singleton.hand-over-retry-interval=2s")]
    [InlineData("akka.actor.papa-compute-dispatcher.dedicated-thread-pool.thread-count=4")]
    [InlineData("akka.actor.serializers.mine=\"My.Serializer, Mine\"")]
    [InlineData("akka.cluster.role.member.min-nr-of-members=2")]
    public void AkkaKeysOfAkkasOwnReferenceConfigsAndOfItsOpenSectionsAreAccepted(string assignment)
    {
        var config = PapaActors.Actors.Configuration.PapaConfig.Load(null, [assignment]);
        Assert.True(config.HasPath(assignment[..assignment.IndexOf('=')]));
    }

    /// <summary>Each command's bad flags; {out} is a run folder that must not be made.</summary>
    [Theory]
    [InlineData("", "Required command was not provided. (papa --help shows the usage)")]
    [InlineData("--foo", "Unrecognized command or argument '--foo'")]
    [InlineData("run --foo --out {out}", "Unrecognized command or argument '--foo'. (papa run --help shows the usage)")]
    [InlineData("run extra --out {out}", "Unrecognized command or argument 'extra'")]
    [InlineData("run --out {out} --config", "Required argument missing for option: '--config'")]
    [InlineData("run --out {out} --set", "Required argument missing for option: '--set'")]
    [InlineData("sweep --seeds 1 --out {out} --set", "Required argument missing for option: '--set'")]
    [InlineData("resume", "Required argument missing for command: 'resume'")]
    [InlineData("resume {out} more", "Unrecognized command or argument 'more'")]
    [InlineData("sweep --seeds 1-2 --nope --out {out}", "Unrecognized command or argument '--nope'. (papa sweep --help shows the usage)")]
    [InlineData("node --role member --members -1 --out {out}", "--members: '-1' is not a member index (0, 1, ...) or auto")]
    [InlineData("node --role bogus --out {out}", "Argument 'bogus' not recognized. Must be one of: 'averager' 'member'")]
    [InlineData("node --members 0 --out {out}", "Option '--role' is required")]
    [InlineData("node --role averager --port many --out {out}", "Cannot parse argument 'many' for option '--port'")]
    [InlineData("compare --plot", "Required argument missing for option: '--plot'")]
    [InlineData("replay", "Required argument missing for command: 'replay'")]
    [InlineData("replay {out} --timeout soon", "Cannot parse argument 'soon' for option '--timeout'")]
    [InlineData("bench --x", "Unrecognized command or argument '--x'. (papa bench --help shows the usage)")]
    [InlineData("bench transfer --repeats x", "Cannot parse argument 'x' for option '--repeats'")]
    [InlineData("bench checkpoint --population many", "(papa bench checkpoint --help shows the usage)")]
    [InlineData("bench cifar-files", "Required argument missing for command: 'cifar-files'")]
    [InlineData("cert", "Option '--out' is required. (papa cert --help shows the usage)")]
    [InlineData("cert --out {out} --nodes two", "Cannot parse argument 'two' for option '--nodes'")]
    public void ABadFlagIsOneErrorLineWithoutHelp(string arguments, string error)
    {
        using var folder = new TempFolder();
        var run = folder.File("run");

        var result = Cli.RunInProcess(arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a.Replace("{out}", run)).ToArray());

        AssertRejectedInShort(result, error);
        Assert.DoesNotContain("Usage:", result.Output);
        Assert.False(Directory.Exists(run), "no run folder is made for a bad flag");
    }

    [Fact]
    public void HelpIsShownOnlyWhenAskedFor()
    {
        var result = Cli.RunInProcess("node", "--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Usage:", result.Output);
    }

    /// <summary>Random edits of the shipped configs (hocon/), each given to `papa run` over a run folder that is not empty.</summary>
    [Fact]
    public void MutatedConfigFilesAreAcceptedOrRefusedInOneLine()
    {
        using var folder = new TempFolder();
        var (runFolder, data) = (NotEmptyRunFolder(folder), Directory.CreateDirectory(folder.File("no-data")).FullName);
        var configs = Directory.GetFiles(RepositoryFiles.Path("hocon"), "*.conf", SearchOption.AllDirectories).Order().Select(File.ReadAllText).ToArray();
        string[] fragments = ["{", "}", "[", "]", "\"", "\"\"\"", "${x}", "${?HOME}", "include \"x\"", "\f", "\n", "=", ":", ".", ",", "#", "//",
            "\\", "{}", "akka.bogus = 1", "papa.optimizer = {}", "papa.epochs = -1", "1e308", "+=", "\u00a0", "\0", "papa.batch-size = [1]"];
        var mutated = Gen.Select(Gen.Int[0, configs.Length - 1], Edit.Array[1, 4], (index, edits) => Apply(configs[index], edits, fragments));

        mutated.Sample(text =>
        {
            File.WriteAllText(folder.File("run.conf"), text);
            var result = Cli.RunInProcess("run", "--config", folder.File("run.conf"), "--set", $"data-dir={data}", "--out", runFolder);
            AssertAcceptedOrRejected(result, runFolder);
        }, iter: 60, threads: 1);
    }

    /// <summary>
    /// Random edits of real command lines that end before anything is trained: each run goes to a run folder that is
    /// not empty (refused after every other check), the others read folders that hold no run.
    /// </summary>
    [Fact]
    public void MutatedCommandLinesAreAcceptedOrRefusedInOneLine()
    {
        using var folder = new TempFolder();
        var runFolder = NotEmptyRunFolder(folder);
        var config = folder.File("default.conf");
        File.Copy(RepositoryFiles.Path("hocon", "default.conf"), config);
        string[][] lines =
        [
            ["run", "--config", config, .. CommandLineTests.Tiny, "--verbose"],
            ["resume", runFolder, "-v"],
            ["compare", runFolder, runFolder, "--markdown"],
            ["replay", runFolder, "--timeout", "00:00:05"],
        ];
        string[] tokens = [.. lines.SelectMany(l => l).Distinct(), "--set", "-s", "-c", "--help", "-h", "--version", "--", "-1", "1e308", "{}", "[",
            "${x}", "akka.bogus=1", "optimizer={}", "population=-1", "epochs=[", "--markdown", "--plot", "--timeout", "--seeds", "x"];
        var mutated = Gen.Select(Gen.Int[0, lines.Length - 1], Edit.Array[1, 4], (index, edits) => Apply(lines[index], edits, tokens));

        mutated.Sample(arguments =>
        {
            // The run folder that stops a run is given last and never edited.
            var result = Cli.RunInProcess(arguments[0] == "run" ? [.. arguments, "--set", $"data-dir={folder.Path}", "--out", runFolder] : arguments);
            AssertAcceptedOrRejected(result, runFolder);
        }, iter: 60, threads: 1, print: arguments => string.Join(' ', arguments));
    }

    /// <summary>Where, how far and what to insert, delete, duplicate or replace: fractions and indices, so any text or line takes any edit.</summary>
    private static readonly Gen<(int Kind, double At, double Span, int Pick)> Edit =
        Gen.Select(Gen.Int[0, 3], Gen.Double[0, 1], Gen.Double[0, 1], Gen.Int[0, int.MaxValue]);

    private static string Apply(string text, (int Kind, double At, double Span, int Pick)[] edits, string[] fragments) =>
        string.Concat(Apply(text.Select(c => c.ToString()).ToArray(), edits, fragments));

    /// <summary>The edits applied to a sequence of items (characters or command-line tokens), the first item (the command) kept.</summary>
    private static string[] Apply(string[] items, (int Kind, double At, double Span, int Pick)[] edits, string[] fragments)
    {
        var list = items.ToList();
        foreach (var (kind, at, span, pick) in edits)
        {
            var start = 1 + (int)(at * (list.Count - 1));
            var count = Math.Min((int)(span * 40), list.Count - start);
            var fragment = fragments[pick % fragments.Length];
            switch (kind)
            {
                case 0: list.Insert(start, fragment); break;
                case 1: list.RemoveRange(start, count); break;
                case 2: list.InsertRange(start, list.GetRange(start, count)); break;
                default: if (start < list.Count) list[start] = fragment; break;
            }
        }
        return [.. list];
    }

    private static string NotEmptyRunFolder(TempFolder folder)
    {
        var runFolder = Directory.CreateDirectory(folder.File("taken")).FullName;
        File.WriteAllText(Path.Combine(runFolder, "keep.txt"), "keep");
        return runFolder;
    }

    /// <summary>Help (exit 0) or one error line (exit 2), and the run folder as it was.</summary>
    private static void AssertAcceptedOrRejected(Cli.Result result, string runFolder)
    {
        if (result.ExitCode != 0)
            Cli.AssertRejected(result);
        Assert.DoesNotContain("   at ", result.Output);
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(runFolder).Select(Path.GetFileName));
    }

    /// <summary>Rejected, and the error line quotes no more than about 100 characters of any key or value.</summary>
    private static void AssertRejectedInShort(Cli.Result result, string error)
    {
        Cli.AssertRejected(result, error);
        var line = result.Output.Split('\n').Single(l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.True(line.Length < 1500, $"an error line of {line.Length} characters");
    }
}
