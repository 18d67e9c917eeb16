using System.Text.Json.Nodes;
using PapaActors.Tests.Support;
using static PapaActors.Tests.Support.RunFolders;

namespace PapaActors.Tests.Host;

/// <summary>
/// The promise of checkpoints, on the real program: a run killed with kill -9 at any point (also halfway
/// through a checkpoint write, also with its newest checkpoint damaged) or stopped with Ctrl-C, then resumed,
/// ends bit-identical to the same run left alone: soups, journal, per-round losses and accuracies.
/// </summary>
[Trait("Category", "Slow")]
public sealed class ResumeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(3);

    /// <summary>A small PAPA run on Fashion-MNIST, with augmentation draws, momentum and a checkpoint every half epoch.</summary>
    private static readonly string[] SmallRun =
    [
        "--set", "dataset=fashion-mnist", "--set", "data-dir=/usr/share/datasets/fashion-mnist", "--set", "train-limit=3000",
        "--set", "test-limit=500", "--set", "model=cnn", "--set", "model-width=0.25", "--set", "population=3", "--set", "epochs=4",
        "--set", "batch-size=50", "--set", "method=papa", "--set", "ema-every-steps=5", "--set", "rho=0.9", "--set", "sync-every-steps=10",
        "--set", "variations.mixup=[0.0, 0.4]", "--set", "torch-threads=1", "--set", "batchnorm.reset-batches=5",
        "--set", "checkpoint.every-epochs=0.5", "--set", "checkpoint.keep=3", "--set", "fault-injection.checkpoint-pause=300ms",
    ];

    private static readonly Lazy<string> Reference = new(() =>
    {
        var folder = Path.Combine(Path.GetTempPath(), "papa-resume-reference-" + Guid.NewGuid().ToString("N")[..8]);
        using var run = PapaProcess.Start(["run", "--out", folder, .. SmallRun]);
        Assert.True(run.WaitForExit(Patience) == 0, run.Output);
        return folder;
    });

    [Fact]
    public void ARunKilledThreeTimesAndResumedIsBitIdenticalToTheUninterruptedRun()
    {
        using var temp = new TempFolder();
        var folder = temp.File("run");

        using (var first = PapaProcess.Start(["run", "--out", folder, .. SmallRun]))
        {
            first.WaitUntil(() => JournalRounds(folder) >= 20, Patience, "20 rounds");
            first.KillHard();
        }
        using (var second = PapaProcess.Start("resume", folder))
        {
            second.WaitUntil(() => HalfWrittenCheckpoint(folder), Patience, "a checkpoint being written");
            second.KillHard();
        }
        Assert.True(Directory.EnumerateDirectories(Path.Combine(folder, "checkpoints"), "*.partial").Any());
        var damaged = FlipAByteOfTheNewestCheckpoint(folder);
        using (var third = PapaProcess.Start("resume", folder))
        {
            third.WaitUntil(() => third.Output.Contains("resuming"), Patience, "the resume");
            Assert.Contains($"{damaged}: ", third.Output); // the damaged checkpoint is named and skipped
            third.WaitUntil(() => JournalRounds(folder) >= 36, Patience, "36 rounds");
            third.KillHard();
        }
        using (var last = PapaProcess.Start("resume", folder))
            Assert.True(last.WaitForExit(Patience) == 0, last.Output);

        AssertSameRun(Reference.Value, folder);
    }

    [Fact]
    public void CtrlCWritesACheckpointAndExits130AndTheResumedRunIsBitIdentical()
    {
        using var temp = new TempFolder();
        var folder = temp.File("run");

        using (var run = PapaProcess.Start(["run", "--out", folder, .. SmallRun]))
        {
            run.WaitUntil(() => JournalRounds(folder) >= 12, Patience, "12 rounds");
            run.Interrupt();
            Assert.Equal(130, run.WaitForExit(Patience));
            Assert.Contains($"continue it with: ./papa resume {folder}", run.Output);
        }
        var interrupted = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "results.json")))!;
        Assert.Equal("interrupted", (string)interrupted["status"]!);
        Assert.Equal($"./papa resume {folder}", (string)interrupted["resume"]!);
        var round = (int)interrupted["checkpoint_round"]!;
        Assert.True(round >= 12, $"the checkpoint is written at the end of the round being trained, not before: round {round}");
        Assert.True(File.Exists(Path.Combine(folder, "checkpoints", $"round-{round:D6}", "manifest.json")));

        using (var resumed = PapaProcess.Start("resume", folder))
            Assert.True(resumed.WaitForExit(Patience) == 0, resumed.Output);

        AssertSameRun(Reference.Value, folder);
    }

    [Fact]
    public void ASecondCtrlCStopsAtOnceAndTheRunStillResumesBitIdentical()
    {
        using var temp = new TempFolder();
        var folder = temp.File("run");

        // Checkpoints only on a signal, each held in its pause: the second signal is sent while the first one's
        // checkpoint is being written, so the run cannot have exited in between.
        string[] heldCheckpoint = ["--set", "checkpoint.every-epochs=0", "--set", "fault-injection.checkpoint-pause=1h"];
        using (var run = PapaProcess.Start(["run", "--out", folder, .. SmallRun, .. heldCheckpoint]))
        {
            run.WaitUntil(() => JournalRounds(folder) >= 20, Patience, "20 rounds");
            run.Interrupt();
            run.WaitUntil(() => HalfWrittenCheckpoint(folder), Patience, "the checkpoint of the first signal being written");
            run.Interrupt();
            Assert.Equal(130, run.WaitForExit(TimeSpan.FromSeconds(20)));
            Assert.Contains("again: stopping at once", run.Output);
        }
        var stopped = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "results.json")))!;
        Assert.Equal(("interrupted", "stopped at once by a second signal"), ((string)stopped["status"]!, (string)stopped["reason"]!));

        using (var resumed = PapaProcess.Start("resume", folder))
            Assert.True(resumed.WaitForExit(Patience) == 0, resumed.Output);

        AssertSameRun(Reference.Value, folder);
    }

    [Fact]
    public void ResumingACompletedRunOrAFolderWithoutARunIsRefused()
    {
        var completed = Cli.RunInProcess("resume", Reference.Value);
        Assert.Equal(2, completed.ExitCode);
        Assert.Contains("has completed; there is nothing to resume", completed.Output);

        using var temp = new TempFolder();
        var empty = Cli.RunInProcess("resume", temp.Path);
        Assert.Equal(2, empty.ExitCode);
        Assert.Contains("is not a run folder: it has no config.conf", empty.Output);
    }

    /// <summary>A checkpoint folder with member files but no manifest yet: the write is halfway.</summary>
    private static bool HalfWrittenCheckpoint(string folder)
    {
        var checkpoints = Path.Combine(folder, "checkpoints");
        return Directory.Exists(checkpoints) && Directory.EnumerateDirectories(checkpoints, "*.partial")
            .Any(d => Directory.EnumerateFiles(d, "member-*").Any() && !File.Exists(Path.Combine(d, "manifest.json")));
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
