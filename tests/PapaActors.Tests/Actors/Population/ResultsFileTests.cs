using System.Text.Json;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Population;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Population;

/// <summary>
/// results.json through its typed schema, against files `papa run` wrote before the schema existed
/// (<see cref="ResultsFixtures"/>): the same values give the same bytes, so earlier run folders still load and a
/// sweep still skips their completed runs.
/// </summary>
public sealed class ResultsFileTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void ACompletedRunsResultsReadBackAndAreWrittenAgainByteForByte()
    {
        File.WriteAllText(_folder.File("results.json"), ResultsFixtures.Text("completed.json"));

        var results = ResultsFile.ReadCompleted(_folder.Path);
        ResultsFile.Write(_folder.Path, results);

        Assert.Equal((7L, 2, 0.4, 0.665, 540L), (results.Seed, results.Members.Count, results.Members[1].Variation.Mixup, results.MeanMemberTestAccuracy, results.TrainingSamples));
        Assert.Equal(ResultsFixtures.Text("completed.json"), File.ReadAllText(_folder.File("results.json")));
        Assert.True(ResultsFile.HasCompleted(_folder.Path));
    }

    /// <summary>What the recorder writes from the Averager's results and the run's settings is the file the earlier build wrote.</summary>
    [Fact]
    public void TheRecordersResultsOfARunGiveTheFileTheEarlierBuildWrote()
    {
        var recorded = ResultsFixtures.Completed();
        var settings = TestSettings.Tiny("population=2", "epochs=1", "seed=7", "variations.mixup=[0.0, 0.4]", "variations.label-smoothing=[0.1]");
        var noWeights = new WeightSnapshot(new WeightLayout([]), []);
        SoupResult Soup(string name, ResultsFile.Soup soup) => new(name, soup.TestAccuracy, soup.HeldOutAccuracy, soup.MembersUsed, noWeights);
        var results = new RunResults(
            recorded.Members.Select(m => new MemberResult(m.Number, m.TestAccuracy, m.HeldOutAccuracy, noWeights)).ToList(),
            recorded.Ensemble.TestAccuracy, Soup("average", recorded.AverageSoup), Soup("greedy", recorded.GreedySoup),
            recorded.TrainingSamples, recorded.TrainingSeconds,
            new RunPhases(recorded.Phases.AveragingSeconds, recorded.Phases.WaitingSeconds, recorded.Phases.FinishingSeconds, recorded.PeakRssBytes));

        ResultsFile.Write(_folder.Path, ResultsFile.Completed.Of(settings, results, recorded.WallSeconds));

        Assert.Equal(ResultsFixtures.Text("completed.json"), File.ReadAllText(_folder.File("results.json")));
    }

    /// <summary>A diverged run's file has no resume command, even when one is given.</summary>
    [Theory]
    [InlineData("failed.json")]
    [InlineData("diverged.json")]
    public void AnUnfinishedRunsResultsAreWrittenAsTheEarlierBuildWroteThem(string fixture)
    {
        var recorded = JsonSerializer.Deserialize(ResultsFixtures.Text(fixture), ResultsJsonContext.Default.Unfinished)!;

        Assert.True(ResultsFile.WriteUnfinished(_folder.Path, recorded.Status, recorded.Reason, recorded.Resume ?? "./papa resume elsewhere",
            recorded.CheckpointRound, recorded.WallSeconds));

        Assert.Equal(ResultsFixtures.Text(fixture), File.ReadAllText(_folder.File("results.json")));
        Assert.False(ResultsFile.HasCompleted(_folder.Path));
    }

    /// <summary>A stop at once records the interruption from outside the run: no wall time, no checkpoint round.</summary>
    [Fact]
    public void AStopAtOnceWritesANullWallTimeAndTheResumeCommand()
    {
        Assert.True(ResultsFile.WriteUnfinished(_folder.Path, RunStatus.Interrupted, "stopped at once", "./papa resume it"));

        Assert.Equal("{\n  \"status\": \"interrupted\",\n  \"reason\": \"stopped at once\",\n  \"wall_seconds\": null,\n  \"resume\": \"./papa resume it\"\n}",
            File.ReadAllText(_folder.File("results.json")));
    }

    [Fact]
    public void ACompletedRunsResultsAreNeverReplacedByAnOutcome()
    {
        File.WriteAllText(_folder.File("results.json"), ResultsFixtures.Text("completed.json"));

        Assert.False(ResultsFile.WriteUnfinished(_folder.Path, RunStatus.Failed, "late failure", "./papa resume it"));

        Assert.Equal(ResultsFixtures.Text("completed.json"), File.ReadAllText(_folder.File("results.json")));
    }

    /// <summary>Only a status of completed counts: not the words in a reason, nor a file that is not JSON.</summary>
    [Theory]
    [InlineData("""{ "status": "failed", "reason": "\"status\": \"completed\"" }""", false)]
    [InlineData("""{ "status": "completed" """, false)]
    [InlineData("""{"status":"completed"}""", true)]
    public void HasCompletedReadsTheStatus(string text, bool completed)
    {
        File.WriteAllText(_folder.File("results.json"), text);

        Assert.Equal(completed, ResultsFile.HasCompleted(_folder.Path));
    }
}
