using PapaActors.Actors.Replay;
using PapaActors.Actors.Schedule;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Host;

/// <summary>One real (tiny) PAPA-2 run with REPAIR and variations, written once, replayed as recorded and after edits.</summary>
public sealed class RecordedRun : IDisposable
{
    private readonly TempFolder _folder = new();

    public RecordedRun()
    {
        Folder = _folder.File("run");
        var result = Cli.RunInProcess("run", "--set", "dataset=synthetic", "--set", "train-limit=300", "--set", "test-limit=100",
            "--set", "model-width=0.25", "--set", "population=3", "--set", "epochs=2", "--set", "batch-size=30",
            "--set", "method=papa-2", "--set", "every-epochs=0.5", "--set", "batchnorm.reset-batches=2",
            "--set", "repair=on", "--set", "repair-batches=2", "--set", "variations.mixup=[0.0, 0.5]", "--out", Folder);
        if (result.ExitCode != 0)
            throw new InvalidOperationException(result.Output);
    }

    public string Folder { get; }

    /// <summary>A copy of the run folder to edit.</summary>
    public string Copy(TempFolder into)
    {
        var copy = into.File("copy");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(Folder))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }

    public void Dispose() => _folder.Dispose();
}

[Trait("Category", "Slow")]
public sealed class ReplayCommandTests(RecordedRun run) : IClassFixture<RecordedRun>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task ARecordedRunReplaysExactly()
    {
        var report = await ScheduleReplay.ReplayFolderAsync(run.Folder, Timeout);

        Assert.True(report.Matches);
        Assert.Equal(report.RoundsPlanned, report.RoundsChecked);
        Assert.Contains(ScheduleJournal.Read(Path.Combine(run.Folder, ScheduleJournal.FileName)).Rounds, r => r.Mix is ReplaceWithChildren);
    }

    [Fact]
    public async Task AnEditedDecisionIsReportedWithItsRound()
    {
        using var temp = new TempFolder();
        var copy = run.Copy(temp);
        var journal = Path.Combine(copy, ScheduleJournal.FileName);
        var lines = File.ReadAllLines(journal);
        var index = Array.FindIndex(lines, l => l.Contains("\"parents\":[[0,"));
        lines[index] = lines[index].Replace("\"parents\":[[0,", "\"parents\":[[7,");
        File.WriteAllLines(journal, lines);

        var report = await ScheduleReplay.ReplayFolderAsync(copy, Timeout);

        Assert.False(report.Matches);
        Assert.Equal(index - 1, report.FirstDivergence!.Round);
        Assert.Contains("children 7+", report.FirstDivergence.Expected);
    }

    [Fact]
    public async Task AJournalOfAnotherConfigurationIsAClearError()
    {
        using var temp = new TempFolder();
        var copy = run.Copy(temp);
        var config = Path.Combine(copy, "config.conf");
        File.WriteAllText(config, File.ReadAllText(config).Replace("papa.population = \"3\"", "papa.population = \"5\""));

        var error = await Assert.ThrowsAsync<JournalException>(() => ScheduleReplay.ReplayFolderAsync(copy, Timeout));
        Assert.Contains("its population is 3, config.conf gives 5", error.Message);
    }

    [Fact]
    public async Task AJournalCutShortIsNeverASilentPass()
    {
        using var temp = new TempFolder();
        var copy = run.Copy(temp);
        var journal = Path.Combine(copy, ScheduleJournal.FileName);
        File.WriteAllLines(journal, File.ReadAllLines(journal)[..4]);

        var report = await ScheduleReplay.ReplayFolderAsync(copy, Timeout);

        Assert.Null(report.FirstDivergence);
        Assert.False(report.Matches);
        Assert.Equal(3, report.RoundsChecked);
    }

    [Fact]
    public void TheCommandExitsZeroOnTheRecordedRunAndOneNamingTheRoundAfterAnEdit()
    {
        var ok = Cli.RunInProcess("replay", run.Folder);
        Assert.True(ok.ExitCode == 0, ok.Output);
        Assert.Contains("every decision and every mix matches the journal", ok.Output);

        using var temp = new TempFolder();
        var copy = run.Copy(temp);
        var journal = Path.Combine(copy, ScheduleJournal.FileName);
        var lines = File.ReadAllLines(journal);
        lines[2] = lines[2].Replace("\"mix\":\"none\"", "\"mix\":\"mean\"").Replace("\"mix\":\"children\"", "\"mix\":\"mean\"");
        File.WriteAllLines(journal, lines);

        var edited = Cli.RunInProcess("replay", copy);
        Assert.Equal(1, edited.ExitCode);
        Assert.Contains("schedule differs at round 1", edited.Output);

        lines[2] = lines[2][..20];
        File.WriteAllLines(journal, lines);
        var truncated = Cli.RunInProcess("replay", copy);
        Assert.Equal(2, truncated.ExitCode);
        Assert.Contains("line 3: not valid JSON", truncated.Output);
    }
}
