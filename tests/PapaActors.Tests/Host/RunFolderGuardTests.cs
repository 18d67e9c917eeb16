using System.Diagnostics;
using PapaActors.Host;
using PapaActors.Tests.Support;
using static PapaActors.Tests.Host.CommandLineTests;

namespace PapaActors.Tests.Host;

/// <summary>
/// What stands around a run: a run refused for its settings, its data or what the machine lacks leaves no folder
/// behind; a run folder has one writer at a time, named to the second; readers need no lock; a lock a dead process
/// left is taken over; and a completed run's results.json is never replaced by a late signal.
/// </summary>
public sealed class RunFolderGuardTests
{
    public static TheoryData<string, string[], string> RefusedBeforeTheFolder => new()
    {
        { "run", ["--set", "batch-size=65536"], "'papa.batch-size' = 65536 is too large: the training split has 294 samples" },
        { "node --role averager", ["--set", "batch-size=65536"], "'papa.batch-size' = 65536 is too large" },
        { "run", ["--set", "akka.loglevel=BOGUS"], "'akka.loglevel' = 'BOGUS' is not allowed: expected one of DEBUG | INFO | WARNING | ERROR | OFF" },
        { "node --role averager", ["--set", "akka.stdout-loglevel=LOUD"], "'akka.stdout-loglevel' = 'LOUD' is not allowed" },
        // This build carries libtorch for the CPU only.
        { "run", ["--set", "devices=[cpu, \"cuda:0\"]"], "'papa.devices': device 'cuda:0' asked for, but CUDA is not available" },
        { "sweep --seeds 1", ["--set", "devices=[cpu, \"cuda:0\"]"], "'papa.devices': device 'cuda:0' asked for" },
        // About 1 TB: 4096 members of 13M parameters each.
        { "run", ["--set", "population=4096", "--set", "model-width=16"], "the run needs about" },
    };

    [Theory]
    [MemberData(nameof(RefusedBeforeTheFolder))]
    public void ARunRefusedForItsSettingsOrWhatTheMachineLacksLeavesNoFolder(string command, string[] settings, string message)
    {
        using var folder = new TempFolder();
        var result = Cli.RunInProcess([.. command.Split(' '), .. Tiny, .. settings, "--out", folder.File("run")]);
        Cli.AssertRejected(result, message);
        Assert.False(Directory.Exists(folder.File("run")), "a refused run leaves no folder");
    }

    [Fact]
    public void TheMemoryARunNeedsIsSaidWithTheKeysThatLowerIt()
    {
        using var folder = new TempFolder();
        var result = Cli.RunInProcess(["run", .. Tiny, "--set", "population=4096", "--set", "model-width=16", "--out", folder.File("run")]);
        Cli.AssertRejected(result, "of memory (4096 members x ", "cnn at model-width 16, batch-size 30) but ", "lower papa.population, papa.model-width or papa.batch-size");
    }

    public static TheoryData<string> DataFileDamages =>
        ["missing images", "missing labels", "empty", "header cut", "data cut", "wrong magic", "data past the header", "fewer labels", "label out of range", "corrupt gzip"];

    [Theory]
    [MemberData(nameof(DataFileDamages))]
    public void ADamagedDataFileIsNamedAndLeavesNoFolder(string damage)
    {
        using var folder = new TempFolder();
        var data = folder.File("data");
        Directory.CreateDirectory(data);
        DataFiles.WriteMnistFolder(data, train: 10, test: 10, gzip: false);
        var named = Damage(damage, Path.Combine(data, "train-images-idx3-ubyte"), Path.Combine(data, "train-labels-idx1-ubyte"));

        var result = Cli.RunInProcess("run", "--set", "dataset=mnist", "--set", $"data-dir={data}", "--set", "batch-size=4", "--out", folder.File("run"));

        Cli.AssertRejected(result, named);
        Assert.False(Directory.Exists(folder.File("run")), "a refused run leaves no folder");
    }

    /// <summary>Damages the training images or labels; returns the file the error must name.</summary>
    private static string Damage(string damage, string images, string labels)
    {
        var bytes = File.ReadAllBytes(images);
        switch (damage)
        {
            case "missing images":
                File.Delete(images);
                return images;
            case "missing labels":
                File.Delete(labels);
                return labels;
            case "empty":
                File.WriteAllBytes(images, []);
                return images;
            case "header cut":
                File.WriteAllBytes(images, bytes[..6]);
                return images;
            case "data cut":
                File.WriteAllBytes(images, bytes[..^100]);
                return images;
            case "wrong magic":
                bytes[0] = 0xff;
                File.WriteAllBytes(images, bytes);
                return images;
            case "data past the header":
                File.WriteAllBytes(images, [.. bytes, 7]);
                return images;
            case "fewer labels":
                File.WriteAllBytes(labels, DataFiles.Idx([9], new byte[9]));
                return labels;
            case "label out of range":
                File.WriteAllBytes(labels, DataFiles.Idx([10], Enumerable.Repeat((byte)200, 10).ToArray()));
                return labels;
            case "corrupt gzip":
                File.Delete(images);
                File.WriteAllBytes(images + ".gz", [0x1f, 0x8b, 0x08, 0, 1, 2, 3, 4]);
                return images;
            default:
                throw new ArgumentOutOfRangeException(nameof(damage), damage, null);
        }
    }

    [Fact]
    public void AFolderARefusedRunMadeIsRemovedAndOneThatExistedBeforeIsKept()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port.ToString();
        using var folder = new TempFolder();
        var existing = folder.File("existing");
        Directory.CreateDirectory(existing);

        // The averager's actor system fails to listen after its run folder was made.
        foreach (var run in new[] { folder.File("new"), existing })
            Cli.AssertRejected(Cli.RunInProcess(["node", "--role", "averager", "--port", port, .. Tiny, "--out", run]), $"cannot listen on 127.0.0.1:{port}");

        Assert.False(Directory.Exists(folder.File("new")), "the folder this call made is removed");
        Assert.True(Directory.Exists(existing), "a folder that existed before is kept");
    }

    [Fact]
    public void ASecondWriterIsRefusedNamingThePidThatHoldsTheFolderAndReadersNeedNoLock()
    {
        using var folder = new TempFolder();
        var run = folder.File("run");
        Assert.Equal(0, Cli.RunInProcess(["run", .. Tiny, "--out", run]).ExitCode);
        var fresh = folder.File("fresh");
        Directory.CreateDirectory(fresh);
        var results = File.ReadAllText(Path.Combine(run, "results.json"));
        var journal = File.ReadAllText(Path.Combine(run, "schedule.jsonl"));

        using (Hold(run))
        using (Hold(fresh))
        {
            var pid = $"PID {Environment.ProcessId}";
            Cli.AssertRejected(Cli.RunInProcess("resume", run), $"the run folder {run} is in use by another papa process ({pid}", RunFolderLock.FileName);
            Cli.AssertRejected(Cli.RunInProcess("node", "--role", "averager", "--resume", run), pid);
            Cli.AssertRejected(Cli.RunInProcess(["run", .. Tiny, "--out", fresh]), pid);
            Assert.Equal(0, Cli.RunInProcess("compare", run).ExitCode);
            Assert.Equal(0, Cli.RunInProcess("replay", run).ExitCode);
        }

        Assert.Equal(results, File.ReadAllText(Path.Combine(run, "results.json")));
        Assert.Equal(journal, File.ReadAllText(Path.Combine(run, "schedule.jsonl")));
        Assert.Equal([RunFolderLock.FileName], Directory.GetFileSystemEntries(fresh).Select(Path.GetFileName));
        // Released, the folder is open to the next writer, which finds the run completed.
        Cli.AssertRejected(Cli.RunInProcess("resume", run), "has completed; there is nothing to resume");
    }

    [Fact]
    public void ALockFileADeadProcessLeftIsTakenOver()
    {
        using var folder = new TempFolder();
        var run = folder.File("run");
        Assert.Equal(0, Cli.RunInProcess(["run", .. Tiny, "--out", run]).ExitCode);
        File.Delete(Path.Combine(run, "results.json")); // as if it had been killed at its last round
        using (var ended = Process.Start("true")!)
        {
            ended.WaitForExit();
            File.WriteAllText(Path.Combine(run, RunFolderLock.FileName), $"{ended.Id}\n");
        }

        var resumed = Cli.RunInProcess("resume", run);

        Assert.True(resumed.ExitCode == 0, resumed.Output);
        Assert.Equal($"{Environment.ProcessId}", File.ReadAllText(Path.Combine(run, RunFolderLock.FileName)).Trim());
    }

    [Fact]
    public void AStopAtOnceAfterTheRunCompletedKeepsItsResultsAndEndsWithSuccess()
    {
        using var folder = new TempFolder();
        var completed = "{\n  \"status\": \"completed\",\n  \"method\": \"papa\"\n}";
        File.WriteAllText(folder.File("results.json"), completed);
        using var signals = InterruptSignals.ForRun(folder.Path, "./papa resume it");

        // Its results written, the run's outcome has not reached the report yet.
        Assert.Equal(ExitCodes.Success, signals.StopAtOnce());
        Assert.Equal(completed, File.ReadAllText(folder.File("results.json")));
    }

    [Fact]
    public void AStopAtOnceAfterTheRunEndedRecordsNothingAndEndsWithItsOutcome()
    {
        using var folder = new TempFolder();
        using var signals = InterruptSignals.ForRun(folder.Path, "./papa resume it");
        signals.Settle(ExitCodes.RunFailed);

        Assert.Equal(ExitCodes.RunFailed, signals.StopAtOnce());
        Assert.False(File.Exists(folder.File("results.json")));
    }

    [Fact]
    public void AStopAtOnceDuringARunRecordsTheInterruption()
    {
        using var folder = new TempFolder();
        using var signals = InterruptSignals.ForRun(folder.Path, "./papa resume it");

        Assert.Equal(ExitCodes.Interrupted, signals.StopAtOnce());
        Assert.Contains("\"status\": \"interrupted\"", File.ReadAllText(folder.File("results.json")));
        Assert.Contains("./papa resume it", File.ReadAllText(folder.File("results.json")));
    }

    /// <summary>The lock as another writer holds it: an exclusive open of the lock file, which records the holder's PID.</summary>
    private static FileStream Hold(string folder)
    {
        var held = new FileStream(Path.Combine(folder, RunFolderLock.FileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        held.SetLength(0);
        held.Write(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
        held.Flush();
        return held;
    }
}
