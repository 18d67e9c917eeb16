using Akka.Actor;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Schedule;
using PapaActors.Actors.Replay;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Population;

/// <summary>The real AveragerActor with TestProbes as members; every message is serialized on the way.</summary>
public sealed class AveragerActorTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
{
    private AveragerHarness Harness(params string[] overrides) =>
        new(this, TestSettings.Tiny(["population=4", "epochs=2", "sync-every-steps=100", .. overrides]), stepsPerEpoch: 12);

    private IReadOnlyList<RoundOutcome> AllRounds(params string[] overrides)
    {
        var harness = Harness(overrides);
        harness.RegisterAll();
        return harness.PlayAllRounds();
    }

    [Fact]
    public void PapaPushesEveryMemberTowardTheMeanWithKeepRho()
    {
        var harness = Harness("method=papa", "ema-every-steps=5", "rho=0.75");
        harness.RegisterAll();

        var rounds = harness.PlayAllRounds();

        Assert.Equal([5L, 10, 12, 15, 20, 24], rounds.Select(r => r.Completed.Plan.EndStep));
        var mixing = rounds.Where(r => r.Mixes.Count > 0).ToList();
        Assert.Equal([5L, 10, 15, 20], mixing.Select(r => r.Completed.Plan.EndStep));
        foreach (var mix in mixing.SelectMany(r => r.Mixes))
        {
            Assert.Equal(0.75, mix.Keep);
            Assert.Null(mix.Parents);
            Assert.Equal([0.25, 0.25, 0.25, 0.25], TracerWeights.Shares(mix.Weights));
        }
        Assert.All(rounds, r => Assert.All(r.Trains, t => Assert.Equal(r.Mixes.Count > 0, t.SendSnapshot)));
        Assert.Equal([false, false, true, false, false, true], rounds.Select(r => r.Trains[0].EvaluateHeldOut));
    }

    [Fact]
    public void EveryNthMixIsMeasuredFeaturesAreAskedForAtEpochEndsAndOnlyAMembersOwnMeasurementIsRecorded()
    {
        var harness = Harness("method=papa", "ema-every-steps=5", "metrics.mix-gain=on", "metrics.mix-gain-every=2", "metrics.feature-images=64");
        harness.RegisterAll();

        var rounds = harness.PlayAllRounds();

        // Pushes after steps 5, 10, 15 and 20: the 2nd and the 4th are measured, by every member.
        var mixing = rounds.Where(r => r.Mixes.Count > 0).ToList();
        Assert.Equal([false, true, false, true], mixing.Select(r => r.Completed.AwaitsMixGain));
        Assert.All(mixing, r => Assert.All(r.Mixes, m => Assert.Equal(r.Completed.AwaitsMixGain, m.MeasureGain)));
        Assert.Equal([0, 0, 64, 0, 0, 64], rounds.Select(r => r.Trains[0].FeatureImages));

        // After the last round: a measurement of the mix of round 1 (step 10), from a stranger and then from member 2.
        var (round, attempt) = (mixing[1].Completed.Plan.Round, mixing[1].Trains[2].Attempt);
        harness.Averager.Tell(new MixEvaluated(2, round, attempt, 0.25, 0.5), TestActor);
        harness.Averager.Tell(new MixEvaluated(2, round, attempt + 1, 0.25, 0.5), harness.Members[2].Ref); // another attempt's
        harness.Averager.Tell(new MixEvaluated(2, round, attempt, 0.5, 0.75), harness.Members[2].Ref);

        // Handled in the order sent: had either of the first two been passed on, it would be the listener's next event.
        Assert.Equal(new MixGainMeasured(round, 2, 0.5, 0.75), harness.ExpectRunEvent<MixGainMeasured>());
    }

    [Fact]
    public void PapaAllReplacesEveryMemberWithTheMean()
    {
        var harness = Harness("method=papa-all", "every-epochs=0.5");
        harness.RegisterAll();

        var mixing = harness.PlayAllRounds().Where(r => r.Mixes.Count > 0).ToList();

        Assert.Equal([6L, 12, 18], mixing.Select(r => r.Completed.Plan.EndStep));
        Assert.All(mixing.SelectMany(r => r.Mixes), mix =>
        {
            Assert.Equal(0, mix.Keep);
            Assert.Equal([0.25, 0.25, 0.25, 0.25], TracerWeights.Shares(mix.Weights));
        });
    }

    [Fact]
    public void Papa2GivesEachMemberTheChildOfItsPlannedParents()
    {
        var harness = Harness("method=papa-2", "every-epochs=0.5");
        harness.RegisterAll();

        var mixing = harness.PlayAllRounds().Where(r => r.Mixes.Count > 0).ToList();

        Assert.Equal(3, mixing.Count);
        foreach (var round in mixing)
        {
            var planned = ((ReplaceWithChildren)round.Completed.Plan.Mix).Parents;
            for (var member = 0; member < 4; member++)
            {
                var mix = round.Mixes[member];
                Assert.Equal(0, mix.Keep);
                Assert.Equal(planned[member], mix.Parents);
                var expected = new double[4];
                expected[planned[member].First] += 0.5;
                expected[planned[member].Second] += 0.5;
                Assert.Equal(expected, TracerWeights.Shares(mix.Weights));
            }
        }
    }

    [Fact]
    public void WithRepairEveryMixCarriesItsParentsStatisticsWeightedLikeItsWeights()
    {
        var push = AllRounds("method=papa", "ema-every-steps=6", "rho=0.6", "repair=on");
        var mixing = push.Where(r => r.Mixes.Count > 0).ToList();
        Assert.NotEmpty(mixing);
        Assert.All(push, r => Assert.All(r.Trains, t => Assert.Equal(r.Mixes.Count > 0, t.MeasureRepairStatistics)));
        foreach (var round in mixing)
        {
            // Member j keeps 0.6 of itself and takes 0.4 of the mean: its share is 0.6 + 0.1, the others' 0.1.
            for (var j = 0; j < 4; j++)
                Assert.Equal(Enumerable.Range(0, 4).Select(i => i == j ? 0.7 : 0.1), TracerWeights.Shares(round.Mixes[j].RepairTargets!));
        }

        var children = AllRounds("method=papa-2", "every-epochs=0.5", "repair=on").Where(r => r.Mixes.Count > 0).ToList();
        Assert.NotEmpty(children);
        Assert.All(children.SelectMany(r => r.Mixes), mix =>
            Assert.Equal(TracerWeights.Shares(mix.Weights), TracerWeights.Shares(mix.RepairTargets!)));
    }

    [Theory]
    [InlineData("method=papa-all", "repair=off")]
    [InlineData("method=papa", "repair=auto")] // auto spares PAPA's frequent pushes the calibration passes
    public void WithoutRepairNoStatisticsAreAskedForNorSent(string method, string repair)
    {
        var rounds = AllRounds(method, "every-epochs=0.5", repair);
        Assert.Contains(rounds, r => r.Mixes.Count > 0);
        Assert.All(rounds.SelectMany(r => r.Trains), t => Assert.False(t.MeasureRepairStatistics));
        Assert.All(rounds.SelectMany(r => r.Mixes), m => Assert.Null(m.RepairTargets));
    }

    [Theory]
    [InlineData("method=papa-all")]
    [InlineData("method=papa-2")]
    public void RepairIsOnByDefaultForPapaAllAndPapa2AsInTheReference(string method)
    {
        var rounds = AllRounds(method, "every-epochs=0.5").Where(r => r.Mixes.Count > 0).ToList();
        Assert.NotEmpty(rounds);
        Assert.All(rounds.SelectMany(r => r.Trains), t => Assert.True(t.MeasureRepairStatistics));
        Assert.All(rounds.SelectMany(r => r.Mixes), m => Assert.NotNull(m.RepairTargets));
    }

    [Fact]
    public void NoneNeverMixesNorAsksForSnapshots()
    {
        var harness = Harness("method=none");
        harness.RegisterAll();

        var rounds = harness.PlayAllRounds();

        Assert.All(rounds, r => Assert.Empty(r.Mixes));
        Assert.All(rounds.SelectMany(r => r.Trains), t => Assert.False(t.SendSnapshot));
    }

    [Fact]
    public void SoupsAreBuiltFromTheFinalPopulationAndTheGreedySoupOnlyKeepsStrictImprovements()
    {
        var harness = Harness("method=none");
        harness.RegisterAll();
        harness.PlayAllRounds();

        // Held-out order: member 1 (0.9), 2 (0.8), 0 (0.7), 3 (0.6). A soup scores 0.9 plus 0.05 per share of
        // member 3 minus 0.05 per share of member 0: member 2 ties (not kept), 0 lowers, 3 raises the score.
        double Score(IReadOnlyList<double> shares) => 0.9 + 0.05 * shares[3] - 0.05 * shares[0];
        var (requests, completed) = harness.Finish(m => new[] { 0.7, 0.9, 0.8, 0.6 }[m], Score);

        // Candidates are prepared once each (BatchNorm, held-out): the average soup by member 0, the greedy ones by member 1.
        var prepared = requests.Where(r => r.Request.Test is null).ToList();
        Assert.All(prepared, r => Assert.True(r.Request.OnHeldOut && r.Request.ReturnWeights));
        Assert.Equal([[0.25, 0.25, 0.25, 0.25]], prepared.Where(r => r.Member == 0).Select(r => TracerWeights.Shares(r.Request.Weights)));
        Assert.Equal([
            [0, 1, 0, 0],             // greedy start: the best member
            [0, 0.5, 0.5, 0],         // + member 2: no strict improvement
            [0.5, 0.5, 0, 0],         // + member 0: worse
            [0, 0.5, 0, 0.5],         // + member 3: better, kept
        ], prepared.Where(r => r.Member == 1).Select(r => TracerWeights.Shares(r.Request.Weights)));
        // The two soups' test passes: each member evaluates its quarter of the test set, nothing else.
        var testSlices = requests.Where(r => r.Request.Test is not null).ToList();
        Assert.All(testSlices, r => Assert.False(r.Request.OnHeldOut || r.Request.RecomputeBatchNorm || r.Request.ReturnWeights));
        Assert.Equal(8, testSlices.Count);
        foreach (var soup in new[] { new[] { 0.25, 0.25, 0.25, 0.25 }, [0, 0.5, 0, 0.5] })
        {
            var slices = testSlices.Where(r => TracerWeights.Shares(r.Request.Weights).SequenceEqual(soup)).ToList();
            Assert.Equal([0, 1, 2, 3], slices.Select(r => r.Member).Order());
            Assert.All(slices, r => Assert.Equal(new TestSlice(r.Member, 4), r.Request.Test));
        }
        var results = completed.Results;
        Assert.Equal([1, 3], results.GreedySoup.MembersUsed);
        Assert.Equal(0.925, results.GreedySoup.TestAccuracy, 12);
        Assert.Equal([0, 1, 2, 3], results.AverageSoup.MembersUsed);
        Assert.Equal(1.0, results.EnsembleTestAccuracy);
        Assert.Equal(harness.Plan.TotalSteps * 8 * 4, results.TrainingSamples);
    }

    [Theory]
    [InlineData("off", 4)] // the average soup and 3 greedy candidates, not 5
    [InlineData("on", 5)]  // the REPAIRed average soup and 4 unrepaired candidates; the chosen soup, REPAIRed, is the average soup
    public void AGreedySoupOfEveryMemberIsTheAverageSoupAndIsNotEvaluatedAgain(string repairSoup, int prepared)
    {
        var harness = Harness("method=none", $"repair-soup={repairSoup}");
        harness.RegisterAll();
        harness.PlayAllRounds();

        // Every member added lowers the largest share, and so raises the score: the greedy soup takes them all.
        var (requests, completed) = harness.Finish(m => new[] { 0.7, 0.9, 0.8, 0.6 }[m], shares => 1 - shares.Max());

        Assert.Equal(prepared, requests.Count(r => r.Request.Test is null));
        Assert.Equal(4, requests.Count(r => r.Request.Test is not null)); // one test pass
        var results = completed.Results;
        Assert.Equal([1, 2, 0, 3], results.GreedySoup.MembersUsed);
        Assert.Equal<float>(results.AverageSoup.Weights.Values, results.GreedySoup.Weights.Values);
        Assert.Equal(0.75, results.GreedySoup.TestAccuracy, 12);
        Assert.Equal(0.75, results.AverageSoup.TestAccuracy, 12);
    }

    [Fact]
    public void WithRepairSoupGreedyCandidatesAreScoredUnrepairedAndOnlyTheChosenSoupIsRepaired()
    {
        var harness = Harness("method=none", "repair-soup=on");
        harness.RegisterAll();
        harness.PlayAllRounds();

        // Held-out order: member 1 (0.9), 2 (0.8), 0 (0.7), 3 (0.6). Unrepaired, a soup scores as in the test above
        // (only member 3 raises it); REPAIRed, every soup scores 0.95 plus 0.04 per share of member 0, so greedy
        // candidates scored REPAIRed would keep members 2 and 0 instead.
        double Score(IReadOnlyList<double> shares, bool repaired) =>
            repaired ? 0.95 + 0.04 * shares[0] : 0.9 + 0.05 * shares[3] - 0.05 * shares[0];
        var (requests, completed) = harness.Finish(m => new[] { 0.7, 0.9, 0.8, 0.6 }[m], Score);

        var prepared = requests.Where(r => r.Request.Test is null).ToList();
        string Describe((int Member, EvaluateWeights Request) r) =>
            $"{r.Member}: [{string.Join(", ", TracerWeights.Shares(r.Request.Weights))}]"
            + (r.Request.RepairTargets is { } targets ? $" repaired towards [{string.Join(", ", TracerWeights.Shares(targets))}]" : "");
        Assert.Equal([
            "0: [0.25, 0.25, 0.25, 0.25] repaired towards [0.25, 0.25, 0.25, 0.25]", // the average soup, REPAIRed
            "1: [0, 1, 0, 0]",                                                        // greedy candidates, unrepaired
            "1: [0, 0.5, 0.5, 0]",
            "1: [0.5, 0.5, 0, 0]",
            "1: [0, 0.5, 0, 0.5]",
            "1: [0, 0.5, 0, 0.5] repaired towards [0, 0.5, 0, 0.5]",                // the chosen soup, REPAIRed
        ], prepared.Select(Describe).OrderBy(d => d[0]));
        Assert.Equal(8, requests.Count(r => r.Request.Test is not null)); // the two soups' test passes

        var results = completed.Results;
        Assert.Equal([1, 3], results.GreedySoup.MembersUsed);
        Assert.Equal(0.95, results.GreedySoup.HeldOutAccuracy, 12); // measured again after REPAIR
        Assert.Equal(0.96, results.AverageSoup.HeldOutAccuracy, 12);
    }

    [Fact]
    public void RegistrationsOutOfRangeTakenOrOfAnotherLayoutAreRefused()
    {
        var harness = Harness();
        var fingerprint = TracerWeights.Layout(4).Fingerprint;
        var intruder = CreateTestProbe();

        harness.Averager.Tell(new RegisterMember(0, harness.Members[0].Ref, fingerprint, harness.Reducer), harness.Members[0].Ref);
        harness.Members[0].ExpectMsg<MemberAccepted>();
        harness.Averager.Tell(new RegisterMember(0, intruder.Ref, fingerprint, harness.Reducer), intruder.Ref);
        Assert.Contains("member index 0 is already registered by", intruder.ExpectMsg<MemberRejected>().Reason);
        harness.Averager.Tell(new RegisterMember(4, intruder.Ref, fingerprint, harness.Reducer), intruder.Ref);
        Assert.Contains("member index 4 is outside the population 0..3", intruder.ExpectMsg<MemberRejected>().Reason);
        harness.Averager.Tell(new RegisterMember(1, intruder.Ref, "0000000000000000", harness.Reducer), intruder.Ref);
        Assert.Contains("has weight layout 0000000000000000, the population has", intruder.ExpectMsg<MemberRejected>().Reason);
        harness.Listener.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    [Fact]
    public void AFailingMemberEndsTheRunNamingItAndTheCause()
    {
        var harness = Harness();
        harness.RegisterAll();
        harness.Members.ToList().ForEach(m => m.ExpectMsg<Train>());

        harness.Averager.Tell(new MemberFailed(2, "IOException: disk full"), harness.Members[2].Ref);

        Assert.Equal("member 2 failed: IOException: disk full", harness.Listener.ExpectMsg<RunFailed>().Reason);
    }

    [Fact]
    public void AMemberThatStopsEndsTheRun()
    {
        var harness = Harness();
        harness.RegisterAll();

        Sys.Stop(harness.Members[3].Ref);

        Assert.StartsWith("member 3 failed: stopped unexpectedly", harness.Listener.ExpectMsg<RunFailed>().Reason);
    }
}
