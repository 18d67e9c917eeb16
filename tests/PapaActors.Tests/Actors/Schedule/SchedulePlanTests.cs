using PapaActors.Actors.Configuration;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Schedule;

public sealed class SchedulePlanTests
{
    private static SchedulePlan Plan(MixingMethod method, int population = 4, int epochs = 2, long stepsPerEpoch = 25,
        int emaEvery = 10, double everyEpochs = 1, int sync = 50, long seed = 1, Papa2Pairing pairing = Papa2Pairing.Cycle) =>
        new(new MixingSettings(method, 0.99, emaEvery, everyEpochs, Pairing: pairing), population, epochs, seed, stepsPerEpoch, sync);

    private static IEnumerable<(long End, MixDecision Mix)> Mixes(SchedulePlan plan) =>
        plan.Rounds.Where(r => r.Mix is not NoMix).Select(r => (r.EndStep, r.Mix));

    [Fact]
    public void PapaPushesEveryKStepsCountedAcrossEpochsButNotAfterTheLastStep()
    {
        var plan = Plan(MixingMethod.Papa);

        Assert.Equal([10L, 20, 25, 30, 40, 50], plan.Rounds.Select(r => r.EndStep));
        Assert.Equal([10L, 20, 30, 40], Mixes(plan).Select(m => m.End));
        Assert.All(Mixes(plan), m => Assert.Equal(new PushTowardMean(0.99), m.Mix));
        Assert.Equal([false, false, true, false, false, true], plan.Rounds.Select(r => r.EndsEpoch));
        Assert.Equal([0, 0, 0, 1, 1, 1], plan.Rounds.Select(r => r.Epoch));
    }

    [Fact]
    public void LinearLrScalingShrinksThePushWithTheLearningRateOfTheNextStep()
    {
        var learningRates = new LearningRateSchedule(Peak: 0.1, Minimum: 0, TotalSteps: 50, WarmupSteps: 0);
        var plan = new SchedulePlan(new MixingSettings(MixingMethod.Papa, 0.9, 10, 1, LinearLrScaling: true), 4, 2, 1, 25, 50, learningRates);

        var keeps = Mixes(plan).Select(m => ((PushTowardMean)m.Mix).Keep).ToList();

        // keep = 1 - 0.1 * lr(step) / 0.1, lr(step) = 0.05 * (1 + cos(pi * step / 50)), step = 10, 20, 30, 40
        var expected = new[] { 10, 20, 30, 40 }.Select(step => 1 - 0.1 * 0.5 * (1 + Math.Cos(Math.PI * step / 50)));
        Assert.Equal(expected.Select(k => Math.Round(k, 12)), keeps.Select(k => Math.Round(k, 12)));
        Assert.True(keeps.Zip(keeps.Skip(1)).All(p => p.Second > p.First), "the push must weaken as the learning rate falls");

        var unscaled = new SchedulePlan(new MixingSettings(MixingMethod.Papa, 0.9, 10, 1), 4, 2, 1, 25, 50, learningRates);
        Assert.All(Mixes(unscaled), m => Assert.Equal(0.9, ((PushTowardMean)m.Mix).Keep));
    }

    [Theory]
    [InlineData(MixingMethod.Papa, 0.25, 0.75, new long[] { 20, 30 })]
    [InlineData(MixingMethod.Papa, 0.0, 0.4, new long[] { 10, 20 })]
    [InlineData(MixingMethod.PapaAll, 0.3, 1.0, new long[] { 20, 30, 40 })]
    [InlineData(MixingMethod.Papa2, 0.5, 0.5, new long[0])]
    public void NothingIsMixedOutsideTheMergeWindow(MixingMethod method, double start, double end, long[] mixingSteps)
    {
        var plan = new SchedulePlan(new MixingSettings(method, 0.9, 10, 0.4, MergeStart: start, MergeEnd: end), 4, 2, 1, 25, 50);
        Assert.Equal(mixingSteps, Mixes(plan).Select(m => m.End));
    }

    [Fact]
    public void PapaAllReplacesEveryMemberWithTheMeanEveryKEpochs()
    {
        var plan = Plan(MixingMethod.PapaAll, epochs: 4, everyEpochs: 2);
        Assert.Equal([50L], Mixes(plan).Select(m => m.End));
        Assert.IsType<ReplaceWithMean>(Mixes(plan).Single().Mix);

        var fractional = Plan(MixingMethod.PapaAll, epochs: 1, stepsPerEpoch: 40, everyEpochs: 0.25);
        Assert.Equal([10L, 20, 30], Mixes(fractional).Select(m => m.End));
    }

    [Theory]
    [InlineData(MixingMethod.PapaAll, 5.0, true, new long[] { 10, 60, 110 })] // the reference: after epochs 1, 6, 11
    [InlineData(MixingMethod.PapaAll, 5.0, false, new long[] { 50, 100 })]
    [InlineData(MixingMethod.Papa2, 2.0, true, new long[] { 10, 30, 50, 70, 90, 110 })]
    [InlineData(MixingMethod.Papa2, 2.0, false, new long[] { 20, 40, 60, 80, 100 })]
    [InlineData(MixingMethod.PapaAll, 1.5, true, new long[] { 10, 25, 40, 55, 70, 85, 100, 115 })]
    [InlineData(MixingMethod.PapaAll, 0.5, true, new long[] { 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100, 105, 110, 115 })]
    [InlineData(MixingMethod.PapaAll, 0.5, false, new long[] { 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100, 105, 110, 115 })]
    public void MixFromStartAnchorsTheMergesAtTheEndOfTheFirstEpoch(MixingMethod method, double everyEpochs, bool fromStart, long[] mixingSteps)
    {
        var plan = new SchedulePlan(new MixingSettings(method, 0.9, 10, everyEpochs, MixFromStart: fromStart), 4, 12, 1, 10, 50);

        Assert.Equal(mixingSteps, Mixes(plan).Select(m => m.End));
        Assert.All(plan.Rounds.Where(r => mixingSteps.Contains(r.EndStep)), r => Assert.NotEqual(NoMix.Instance, r.Mix));
    }

    [Fact]
    public void MixFromStartLeavesPapaPushesAlone()
    {
        var on = new SchedulePlan(new MixingSettings(MixingMethod.Papa, 0.9, 10, 5, MixFromStart: true), 4, 2, 1, 25, 50);
        var off = new SchedulePlan(new MixingSettings(MixingMethod.Papa, 0.9, 10, 5, MixFromStart: false), 4, 2, 1, 25, 50);
        Assert.Equal(Mixes(off), Mixes(on));
        Assert.Equal([10L, 20, 30, 40], Mixes(on).Select(m => m.End));
    }

    [Fact]
    public void MultiStepLearningRatesScaleThePushesAtTheMilestones()
    {
        // milestones 0.5 and 0.75 of 40 steps (the reference rounds fraction * total steps): steps 20 and 30
        var optimizer = new OptimizerSettings("sgd", 0.1, 0, 0.9, 0, false, 0, LearningRateDecay.MultiStep, [0.5, 0.75], 0.1);
        var learningRates = LearningRateSchedule.For(optimizer, epochs: 2, stepsPerEpoch: 20);
        Assert.Equal([0.1, 0.1, 0.01, 0.01, 0.001], new long[] { 0, 19, 20, 29, 30 }.Select(s => Math.Round(learningRates.At(s), 12)));

        var plan = new SchedulePlan(new MixingSettings(MixingMethod.Papa, 0.9, 10, 1, LinearLrScaling: true), 4, 2, 1, 20, 50, learningRates);
        Assert.Equal([0.9, 0.99, 0.999], Mixes(plan).Select(m => Math.Round(((PushTowardMean)m.Mix).Keep, 12)));
    }

    [Fact]
    public void NoneNeverMixesAndSynchronisesEverySyncInterval()
    {
        var plan = Plan(MixingMethod.None, epochs: 2, stepsPerEpoch: 25, sync: 20);
        Assert.Empty(Mixes(plan));
        Assert.Equal([20L, 25, 40, 50], plan.Rounds.Select(r => r.EndStep));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(10)]
    public void Papa2ChildrenComeFromACycleSoEveryMemberParentsTwoChildrenOneOfThemItsOwn(int population)
    {
        var plan = Plan(MixingMethod.Papa2, population, epochs: 6, everyEpochs: 1);
        var refills = Mixes(plan).Select(m => ((ReplaceWithChildren)m.Mix).Parents).ToList();

        Assert.Equal(5, refills.Count);
        foreach (var parents in refills)
        {
            Assert.Equal(population, parents.Count);
            for (var member = 0; member < population; member++)
            {
                Assert.Equal(member, parents[member].First);
                Assert.Equal(2, parents.Count(p => p.First == member) + parents.Count(p => p.Second == member));
            }
            if (population >= 3)
            {
                Assert.All(parents, p => Assert.NotEqual(p.First, p.Second));
                Assert.Equal(population, parents.Select(p => (Math.Min(p.First, p.Second), Math.Max(p.First, p.Second))).Distinct().Count());
            }
        }
    }

    [Fact]
    public void Papa2PairsArePureFunctionsOfSeedAndRound()
    {
        List<IReadOnlyList<ParentPair>> Pairs(long seed) =>
            Mixes(Plan(MixingMethod.Papa2, 6, epochs: 5, seed: seed)).Select(m => ((ReplaceWithChildren)m.Mix).Parents).ToList();

        Assert.Equal(Pairs(7), Pairs(7));
        Assert.NotEqual(Pairs(7).Select(p => string.Join(",", p)), Pairs(8).Select(p => string.Join(",", p)));
        Assert.True(Pairs(7).Select(p => string.Join(",", p)).Distinct().Count() > 1, "different rounds draw different pairs");
    }

    [Fact]
    public void Papa2ParentsAreSpreadEvenlyUnlikeTheReferenceDraw()
    {
        // Over 200 refills of 10 members each member should parent ~2 of 10 children every time; the reference
        // draw made member 0 a parent of 9 of them.
        var parents = Enumerable.Range(0, 200).SelectMany(seed => SchedulePlan.DrawCycleParents(10, seed)).ToList();
        var counts = Enumerable.Range(0, 10).Select(m => parents.Count(p => p.First == m || p.Second == m)).ToList();
        Assert.All(counts, c => Assert.Equal(400, c));
    }

    private static List<IReadOnlyList<ParentPair>> Refills(Papa2Pairing pairing, int population, long seed) =>
        Mixes(Plan(MixingMethod.Papa2, population, epochs: 41, seed: seed, pairing: pairing)).Select(m => ((ReplaceWithChildren)m.Mix).Parents).ToList();

    /// <summary>How many children of one refill <paramref name="member"/> parents.</summary>
    private static int Parentships(IReadOnlyList<ParentPair> parents, int member) =>
        parents.Count(p => p.First == member) + parents.Count(p => p.Second == member);

    [Theory]
    [InlineData(4, "0+1 0+2 0+3 1+2")]
    [InlineData(5, "0+1 0+2 0+3 0+4 1+2")]
    public void CyclePairingSpreadsParenthoodEvenlyWhileReferencePairingShufflesTheFirstLexicographicPairs(int population, string firstPairs)
    {
        var cycle = Refills(Papa2Pairing.Cycle, population, seed: 3);
        var reference = Refills(Papa2Pairing.Reference, population, seed: 3);
        Assert.Equal(40, cycle.Count);
        Assert.Equal(40, reference.Count);

        Assert.All(cycle, parents => Assert.All(Enumerable.Range(0, population), m => Assert.Equal(2, Parentships(parents, m))));

        foreach (var parents in reference)
        {
            Assert.Equal(firstPairs.Split(' '), parents.Select(p => p.ToString()).Order());
            Assert.Equal(population - 1, Parentships(parents, 0));
            Assert.Equal(2, Parentships(parents, 1));
            Assert.Equal(2, Parentships(parents, 2));
            Assert.All(Enumerable.Range(3, population - 3), m => Assert.Equal(1, Parentships(parents, m)));
        }
        // The shuffle puts every one of those pairs in every member's slot over the rounds.
        Assert.All(Enumerable.Range(0, population), member =>
            Assert.Equal(population, reference.Select(parents => parents[member]).Distinct().Count()));

        // Both draws are pure functions of the seed and the round.
        static string Text(List<IReadOnlyList<ParentPair>> refills) => string.Join("; ", refills.Select(p => string.Join(" ", p)));
        Assert.Equal(Text(cycle), Text(Refills(Papa2Pairing.Cycle, population, seed: 3)));
        Assert.Equal(Text(reference), Text(Refills(Papa2Pairing.Reference, population, seed: 3)));
        Assert.NotEqual(Text(reference), Text(Refills(Papa2Pairing.Reference, population, seed: 4)));
    }

    [Theory]
    [InlineData(1, "0+0")]
    [InlineData(2, "0+1 0+1")]
    [InlineData(3, "0+1 0+2 1+2")]
    public void ReferencePairingOfFewMembers(int population, string pairs)
    {
        // Two members: the reference's fixed [[0, 1], [0, 1]]; three: all three pairs, shuffled.
        Assert.All(Refills(Papa2Pairing.Reference, population, seed: 5), parents =>
            Assert.Equal(pairs.Split(' '), parents.Select(p => p.ToString()).Order()));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AJournalOfEitherMergeTimingReplaysUnderItsOwnSettingAndNotTheOther(bool fromStart)
    {
        using var folder = new TempFolder();
        string[] Overrides(bool start) => ["method=papa-2", "population=3", "epochs=6", "every-epochs=2", "sync-every-steps=100", $"mix-from-start={(start ? "on" : "off")}"];
        var plan = SchedulePlan.For(TestSettings.Tiny(Overrides(fromStart)), stepsPerEpoch: 4);
        var path = folder.File(ScheduleJournal.FileName);
        File.WriteAllLines(path, plan.Rounds.Select(ScheduleJournal.RoundLine).Prepend(ScheduleJournal.HeaderLine(plan)).Append(ScheduleJournal.EndLine(plan.Rounds.Count)));
        var journal = ScheduleJournal.Read(path);
        Assert.Equal(fromStart ? [4L, 12, 20] : [8L, 16], plan.Rounds.Where(r => r.Mix is ReplaceWithChildren).Select(r => r.EndStep));

        var same = await PapaActors.Actors.Replay.ScheduleReplay.ReplayAsync(TestSettings.TinyRun(Overrides(fromStart)), journal, TimeSpan.FromMinutes(1));
        Assert.True(same.Matches, same.FirstDivergence?.ToString());

        // Both plans have the same rounds (every merge is at an epoch end); round 0 ends at the first epoch.
        var other = await PapaActors.Actors.Replay.ScheduleReplay.ReplayAsync(TestSettings.TinyRun(Overrides(!fromStart)), journal, TimeSpan.FromMinutes(1));
        Assert.False(other.Matches);
        Assert.Equal(0, other.FirstDivergence!.Round);
    }

    [Fact]
    public void JournalRoundTripsEveryDecision()
    {
        using var folder = new TempFolder();
        var plan = Plan(MixingMethod.Papa2, 4, epochs: 3, everyEpochs: 1, sync: 10);
        var path = folder.File(ScheduleJournal.FileName);
        File.WriteAllLines(path, plan.Rounds.Select(ScheduleJournal.RoundLine).Prepend(ScheduleJournal.HeaderLine(plan)).Append(ScheduleJournal.EndLine(plan.Rounds.Count)));

        var journal = ScheduleJournal.Read(path);

        Assert.Equal(new ScheduleJournal.Header("papa-2", 4, 1, 25, 75, plan.Rounds.Count, "cycle"), journal.Header);
        Assert.Equal(plan.Rounds, journal.Rounds);
        Assert.True(journal.Ended);
        Assert.Contains("\"mix\":\"children\",\"parents\":[[", File.ReadAllText(path));

        // A journal written before pairing was an option has no such field: its PAPA-2 draws were cycles.
        var lines = File.ReadAllLines(path);
        File.WriteAllLines(path, lines.Skip(1).Prepend(lines[0].Replace(",\"pairing\":\"cycle\"", "")));
        Assert.DoesNotContain("pairing", File.ReadAllLines(path)[0]);
        Assert.Equal("cycle", ScheduleJournal.Read(path).Header.Pairing);
    }

    [Theory]
    [InlineData("reference")]
    [InlineData("cycle")]
    public async Task AJournalReplaysUnderItsOwnPairingAndIsRefusedUnderTheOther(string pairing)
    {
        using var folder = new TempFolder();
        var other = pairing == "cycle" ? "reference" : "cycle";
        string[] Overrides(string p) => ["method=papa-2", "population=4", "epochs=4", "every-epochs=1", "sync-every-steps=100", $"pairing={p}"];
        var plan = SchedulePlan.For(TestSettings.Tiny(Overrides(pairing)), stepsPerEpoch: 4);
        var path = folder.File(ScheduleJournal.FileName);
        File.WriteAllLines(path, plan.Rounds.Select(ScheduleJournal.RoundLine).Prepend(ScheduleJournal.HeaderLine(plan)).Append(ScheduleJournal.EndLine(plan.Rounds.Count)));
        var journal = ScheduleJournal.Read(path);
        Assert.Equal(pairing, journal.Header.Pairing);
        Assert.Equal(3, plan.Rounds.Count(r => r.Mix is ReplaceWithChildren));

        // The replay runs the real Averager: every member must receive the child of the pair the journal names.
        var same = await PapaActors.Actors.Replay.ScheduleReplay.ReplayAsync(TestSettings.TinyRun(Overrides(pairing)), journal, TimeSpan.FromMinutes(1));
        Assert.True(same.Matches, same.FirstDivergence?.ToString());

        var refused = await Assert.ThrowsAsync<JournalException>(() =>
            PapaActors.Actors.Replay.ScheduleReplay.ReplayAsync(TestSettings.TinyRun(Overrides(other)), journal, TimeSpan.FromMinutes(1)));
        Assert.Equal($"the journal was written by another configuration: its PAPA-2 pairing is {pairing}, config.conf gives {other}", refused.Message);
    }

    [Theory]
    [InlineData("{\"type\":\"round\",\"round\":0", "line 2: not valid JSON")]
    [InlineData("{\"type\":\"checkpoint\",\"round\":0}", "line 2: unknown event type 'checkpoint'")]
    [InlineData("{\"type\":\"round\",\"round\":5,\"first_step\":0,\"steps\":10,\"epoch\":0,\"ends_epoch\":false,\"mix\":\"none\"}", "line 2: round 5 where round 0 was expected")]
    [InlineData("{\"type\":\"round\",\"round\":0,\"first_step\":0,\"steps\":10,\"epoch\":0,\"ends_epoch\":false,\"mix\":\"swap\"}", "line 2: unknown mix 'swap'")]
    public void BadJournalLinesAreNamed(string line, string message)
    {
        using var folder = new TempFolder();
        var path = folder.File(ScheduleJournal.FileName);
        File.WriteAllLines(path, [ScheduleJournal.HeaderLine(Plan(MixingMethod.Papa)), line]);

        var error = Assert.Throws<JournalException>(() => ScheduleJournal.Read(path));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void JournalOfAnotherFormatVersionIsRefused()
    {
        using var folder = new TempFolder();
        var path = folder.File(ScheduleJournal.FileName);
        File.WriteAllText(path, ScheduleJournal.HeaderLine(Plan(MixingMethod.Papa)).Replace("\"version\":1", "\"version\":7"));

        var error = Assert.Throws<JournalException>(() => ScheduleJournal.Read(path));
        Assert.Contains("journal format papa-schedule v7; this build reads papa-schedule v1", error.Message);
    }
}
