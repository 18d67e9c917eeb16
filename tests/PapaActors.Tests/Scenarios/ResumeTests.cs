using System.Text.Json.Nodes;
using PapaActors.Tests.Support;
using static PapaActors.Tests.Support.RunFolders;

namespace PapaActors.Tests.Scenarios;

/// <summary>The small run of <see cref="ResumeTests"/> left alone, once for the class: what every interrupted and resumed run must end as.</summary>
public sealed class UninterruptedSmallRun : IDisposable
{
    private readonly TempFolder _temp = new();

    public UninterruptedSmallRun()
    {
        Folder = _temp.File("run");
        var run = PapaProcess.Run(ResumeTests.Patience, ["run", "--out", Folder, .. ResumeTests.SmallRun]);
        if (run.ExitCode != 0)
            throw new InvalidOperationException(run.Output);
    }

    public string Folder { get; }

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// The promise of checkpoints, on the real program: a run killed with kill -9 at any point (also halfway
/// through a checkpoint write, also with its newest checkpoint damaged) or stopped with Ctrl-C, then resumed,
/// ends bit-identical to the same run left alone: soups, journal, per-round losses and accuracies.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ResumeTests(UninterruptedSmallRun reference) : IClassFixture<UninterruptedSmallRun>
{
    internal static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    /// <summary>
    /// A small PAPA run on Fashion-MNIST, with augmentation draws, momentum and a checkpoint every half epoch: 27 rounds,
    /// a checkpoint every 3.
    /// </summary>
    internal static readonly string[] SmallRun =
    [
        "--set", "dataset=fashion-mnist", "--set", "data-dir=/usr/share/datasets/fashion-mnist", "--set", "train-limit=1500",
        "--set", "test-limit=500", "--set", "model=cnn", "--set", "model-width=0.25", "--set", "population=3", "--set", "epochs=4",
        "--set", "batch-size=50", "--set", "method=papa", "--set", "ema-every-steps=5", "--set", "rho=0.9", "--set", "sync-every-steps=10",
        "--set", "variations.mixup=[0.0, 0.4]", "--set", "torch-threads=1", "--set", "batchnorm.reset-batches=5",
        "--set", "checkpoint.every-epochs=0.5", "--set", "checkpoint.keep=3",
    ];

    [Fact]
    public void ARunKilledThreeTimesAndResumedIsBitIdenticalToTheUninterruptedRun()
    {
        using var temp = new TempFolder();
        var folder = temp.File("run");

        using (var first = PapaProcess.Start(["run", "--out", folder, .. SmallRun]))
        {
            first.WaitUntil(() => JournalRounds(folder) >= 10, Patience, "10 rounds");
            first.KillHard();
        }
        // Its first checkpoint write holds until the kill: the kill lands halfway through it, however slow the machine.
        SetCheckpointPause(folder, "1h");
        var resumedAt = DateTime.UtcNow;
        using (var second = PapaProcess.Start("resume", folder))
        {
            second.WaitUntil(() => HalfWrittenCheckpoint(folder, since: resumedAt), Patience, "a checkpoint being written");
            second.KillHard();
        }
        Assert.True(HalfWrittenCheckpoint(folder, since: resumedAt));
        SetCheckpointPause(folder, "0s");
        var damaged = FlipAByteOfTheNewestCheckpoint(folder);
        using (var third = PapaProcess.Start("resume", folder))
        {
            third.WaitUntil(() => third.Output.Contains("resuming"), Patience, "the resume");
            Assert.Contains($"{damaged}: ", third.Output); // the damaged checkpoint is named and skipped
            third.WaitUntil(() => JournalRounds(folder) >= 18, Patience, "18 rounds");
            third.KillHard();
        }
        using (var last = PapaProcess.Start("resume", folder))
            Assert.True(last.WaitForExit(Patience) == 0, last.Output);

        AssertSameRun(reference.Folder, folder);
    }

    [Fact]
    public void CtrlCWritesACheckpointAndExits130AndTheResumedRunIsBitIdentical()
    {
        using var temp = new TempFolder();
        var folder = temp.File("run");

        using (var run = PapaProcess.Start(["run", "--out", folder, .. SmallRun]))
        {
            run.WaitUntil(() => JournalRounds(folder) >= 6, Patience, "6 rounds");
            run.Interrupt();
            Assert.Equal(130, run.WaitForExit(Patience));
            Assert.Contains($"continue it with: ./papa resume {folder}", run.Output);
        }
        var interrupted = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "results.json")))!;
        Assert.Equal("interrupted", (string)interrupted["status"]!);
        Assert.Equal($"./papa resume {folder}", (string)interrupted["resume"]!);
        var round = (int)interrupted["checkpoint_round"]!;
        Assert.True(round >= 6, $"the checkpoint is written at the end of the round being trained, not before: round {round}");
        Assert.True(File.Exists(Path.Combine(folder, "checkpoints", $"round-{round:D6}", "manifest.json")));

        using (var resumed = PapaProcess.Start("resume", folder))
            Assert.True(resumed.WaitForExit(Patience) == 0, resumed.Output);

        AssertSameRun(reference.Folder, folder);
    }

    [Fact]
    public void ASecondCtrlCStopsAtOnceAndTheRunStillResumesBitIdentical()
    {
        using var temp = new TempFolder();
        var folder = temp.File("run");

        // A run's outcome reaches the program only through the recorder that writes its checkpoints: once that
        // recorder holds a checkpoint in an hour's pause, the run cannot end by itself, so both signals reach a
        // running program, and the second is its second (its answer to the first is printed before it is sent).
        using (var run = PapaProcess.Start(["run", "--out", folder, .. SmallRun, "--set", "fault-injection.checkpoint-pause=1h"]))
        {
            run.WaitUntil(() => HalfWrittenCheckpoint(folder), Patience, "a checkpoint held in its pause");
            run.Interrupt();
            run.WaitUntil(() => run.Output.Contains("send it again to stop at once"), Patience, "the answer to the first signal");
            run.Interrupt();
            Assert.Equal(130, run.WaitForExit(TimeSpan.FromSeconds(20)));
            Assert.Contains("again: stopping at once", run.Output);
        }
        var stopped = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "results.json")))!;
        Assert.Equal(("interrupted", "stopped at once by a second signal"), ((string)stopped["status"]!, (string)stopped["reason"]!));

        SetCheckpointPause(folder, "0s");
        using (var resumed = PapaProcess.Start("resume", folder))
            Assert.True(resumed.WaitForExit(Patience) == 0, resumed.Output);

        AssertSameRun(reference.Folder, folder);
    }

    [Fact]
    public void ResumingACompletedRunOrAFolderWithoutARunIsRefused()
    {
        var completed = PapaProcess.Run("resume", reference.Folder);
        Assert.Equal(2, completed.ExitCode);
        Assert.Contains("has completed; there is nothing to resume", completed.Output);

        using var temp = new TempFolder();
        var empty = PapaProcess.Run("resume", temp.Path);
        Assert.Equal(2, empty.ExitCode);
        Assert.Contains("is not a run folder: it has no config.conf", empty.Output);
    }

    /// <summary>
    /// A checkpoint folder with member files (written <paramref name="since"/>, if given) but no manifest yet: the write is halfway.
    /// </summary>
    private static bool HalfWrittenCheckpoint(string folder, DateTime? since = null)
    {
        var checkpoints = Path.Combine(folder, "checkpoints");
        return Directory.Exists(checkpoints) && Directory.EnumerateDirectories(checkpoints, "*.partial")
            .Any(d => Directory.EnumerateFiles(d, "member-*").Any(f => File.GetLastWriteTimeUtc(f) >= (since ?? DateTime.MinValue))
                && !File.Exists(Path.Combine(d, "manifest.json")));
    }

    /// <summary>
    /// Sets the run's checkpoint pause in its config.conf, which a resume reads: an operational key, outside the
    /// checkpoint identity, so the run stays the same run.
    /// </summary>
    private static void SetCheckpointPause(string folder, string pause)
    {
        var config = Path.Combine(folder, "config.conf");
        var lines = File.ReadAllLines(config);
        var key = Array.FindIndex(lines, l => l.StartsWith("papa.fault-injection.checkpoint-pause = ", StringComparison.Ordinal));
        Assert.True(key >= 0, $"{config} has no checkpoint-pause line");
        lines[key] = $"papa.fault-injection.checkpoint-pause = \"{pause}\"";
        File.WriteAllLines(config, lines);
    }

    private static string FlipAByteOfTheNewestCheckpoint(string folder)
    {
        var newest = Directory.EnumerateDirectories(Path.Combine(folder, "checkpoints"), "round-*")
            .Where(d => File.Exists(Path.Combine(d, "manifest.json"))).Max()!;
        var file = Path.Combine(newest, "member-0.safetensors");
        var bytes = File.ReadAllBytes(file);
        bytes[^7] ^= 0x10;
        File.WriteAllBytes(file, bytes);
        return Path.GetRelativePath(folder, newest);
    }
}
