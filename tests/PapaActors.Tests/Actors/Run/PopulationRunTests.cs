using System.Collections.Immutable;
using CsCheck;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Replay;
using PapaActors.Actors.Run;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Run;

/// <summary>The run's decisions as plain calls: a <see cref="PopulationRun{TPeer}"/> in a scripted world, no actors, no time.</summary>
public sealed class PopulationRunTests
{
    private static RunWorld World(string[] overrides, Func<int, int>? nodeOf = null, Random? order = null) =>
        new(TestSettings.Tiny(["population=4", "epochs=2", "sync-every-steps=100", "checkpoint.every-epochs=0", .. overrides]), stepsPerEpoch: 12, nodeOf, order);

    /// <summary>What the members were sent to mix, round by round: each node's mean (bits), and each member's keep, parents and REPAIR targets.</summary>
    private static List<string> MixesOf(RunWorld world) => world.Sent<NodeMix>().Select(m =>
        $"round {m.Round}: mean [{string.Join(",", m.Mean?.Values.Select(BitConverter.SingleToInt32Bits) ?? [])}] "
        + string.Join("; ", m.Members.Select(x => $"{x.Member} keep {x.Keep} parents {x.Parents} targets [{string.Join(",", x.RepairTargets is null ? [] : TracerWeights.Shares(x.RepairTargets))}]"))
        + " children " + string.Join(",", m.Children.Keys.OrderBy(p => (p.First, p.Second)))).ToList();

    [Fact]
    public void TheRunStartsOnceEveryMemberHasRegisteredAndRefusesRegistrationsThatDoNotFit()
    {
        var world = World(["method=papa", "ema-every-steps=5"]);
        for (var i = 0; i < 3; i++)
        {
            world.Register(i, world.Members[i]);
            world.Step();
        }
        world.HandleNow("stranger", new Registration<string>(7, "stranger", "node-9", TracerWeights.Layout(4).Fingerprint));
        world.HandleNow("impostor", new Registration<string>(0, "impostor", "node-9", TracerWeights.Layout(4).Fingerprint));
        world.HandleNow("other-model", new Registration<string>(3, "other-model", "node-9", "another layout"));

        Assert.Equal(RunPhase.WaitingForMembers, world.Run.Phase);
        Assert.Empty(world.Sent<Train>());
        Assert.Equal(["member index 7 is outside the population 0..3", "member index 0 is already registered by member-0",
                "member 3 has weight layout another layout, the population has " + TracerWeights.Layout(4).Fingerprint + " (different model or config?)"],
            world.Sent<MemberRejected>().Select(r => r.Reason));

        world.Register(3, world.Members[3]);
        world.Step();

        Assert.Equal(RunPhase.Training, world.Run.Phase);
        Assert.DoesNotContain(world.Commands, c => c is StartTimer { Timer: RunTimer.Replacement } && world.Commands.IndexOf(c) > 0);
        Assert.Equal(4, world.Sent<Train>().Count(t => t.Round == 0));
        Assert.Equal(["member-0", "member-1", "member-2", "member-3"], world.Event<RunStarted>().MemberAddresses);
    }

    [Fact]
    public void MembersThatNeverRegisterEndTheRunAfterTheReplacementTimeout()
    {
        var world = World(["method=none"]);
        world.Register(0, world.Members[0]);
        world.RunToEnd();

        Assert.Equal("member(s) 1, 2, 3 did not register within 00:10:00 (papa.replacement-timeout)", world.Event<RunFailed>().Reason);
        Assert.Empty(world.Sent<Train>());
    }

    [Fact]
    public void APushSendsEveryNodeTheMeanOnceWithEachMembersKeepAndRepairTargets()
    {
        var world = World(["method=papa", "ema-every-steps=5", "rho=0.75", "repair=on"], nodeOf: i => i / 2).RegisterAll().RunToEnd();

        var first = world.Sent<NodeMix>().Where(m => m.Round == 0).ToList();
        Assert.Equal(2, first.Count); // one per node, whatever its number of members
        Assert.All(first, m => Assert.Equal([0.25, 0.25, 0.25, 0.25], TracerWeights.Shares(m.Mean!)));
        var member1 = first[0].Members[1];
        Assert.Equal((1, 0.75, null), (member1.Member, member1.Keep, member1.Parents));
        Assert.Equal([0.0625, 0.8125, 0.0625, 0.0625], TracerWeights.Shares(member1.RepairTargets!)); // (1 - 0.75)/4 each, plus 0.75 of its own
        Assert.Equal([5L, 10, 15, 20], world.Sent<NodeMix>().Select(m => world.Plan.Rounds[m.Round].EndStep).Distinct());
        Assert.Equal(0.9, world.Event<RunCompleted>().Results.EnsembleTestAccuracy);
        Assert.Equal(4, world.Sent<RunEnded>().Count(e => e.Completed));
    }

    [Fact]
    public void PapaTwoFormsChildrenWhereBothParentsAreAndSendsOnlyTheOnesANodeLacks()
    {
        var world = World(["method=papa-2", "every-epochs=1"], nodeOf: i => i / 2).RegisterAll().RunToEnd();

        var round = world.Plan.Rounds.First(r => r.Mix is ReplaceWithChildren);
        var parents = ((ReplaceWithChildren)round.Mix).Parents;
        var combines = world.Sent<CombineRound>().Where(c => c.Round == round.Round).ToList();
        foreach (var (combine, node) in combines.Select((c, k) => (c, k)))
        {
            var here = new[] { 2 * node, 2 * node + 1 };
            Assert.Equal(parents.Select(p => p.Sorted).Where(p => here.Contains(p.First) && here.Contains(p.Second)).Distinct().Order(), combine.FormChildren.Order());
            Assert.Equal(parents.Where(p => here.Contains(p.First) != here.Contains(p.Second)).SelectMany(p => new[] { p.First, p.Second })
                .Where(here.Contains).Distinct().Order(), combine.UploadSnapshots);
        }
        foreach (var (mix, node) in world.Sent<NodeMix>().Where(m => m.Round == round.Round).Select((m, k) => (m, k)))
        {
            Assert.Null(mix.Mean);
            Assert.All(mix.Members, m => Assert.Equal(parents[m.Member], m.Parents));
            var formedHere = mix.Members.Select(m => m.Parents!.Value.Sorted).Where(p => p.First / 2 == node && p.Second / 2 == node);
            Assert.Empty(mix.Children.Keys.Intersect(formedHere));
            Assert.All(mix.Children, c => Assert.Equal(Enumerable.Range(0, 4).Select(i => i == c.Key.First || i == c.Key.Second ? 0.5 : 0.0), TracerWeights.Shares(c.Value)));
        }
    }

    [Fact]
    public void ARoundThatTimesOutNamesTheMembersThatDidNotAnswer()
    {
        var world = World(["method=none"]).RegisterAll();
        while (world.Sent<Train>().Count() < 4)
            world.Step();
        world.Lose("member-0"); // its report
        world.RunToEnd();

        var failed = world.Event<RunFailed>();
        Assert.Equal("round 0 timed out after 00:10:00: no answer from member(s) 0", failed.Reason);
        Assert.Equal(4, world.Sent<RunEnded>().Count(e => !e.Completed));
    }

    [Fact]
    public void AReportFromAStrangerIsDroppedAndChangesNothing()
    {
        var world = World(["method=none"]).RegisterAll();
        var expected = World(["method=none"]).RegisterAll().RunToEnd();
        while (world.Sent<Train>().Count() < 4)
            world.Step();
        world.HandleNow("stranger", new Trained(0, 0, 12, 0.5, 0.1, 96, 0.01, null, null));
        world.HandleNow("stranger", new MemberFailed(1, "forged"));
        world.RunToEnd();

        Assert.Equal(2, world.Commands.OfType<DropStranger<string>>().Count(d => d.From == "stranger"));
        Assert.Equal(expected.Event<RunCompleted>().Results.TrainingSamples, world.Event<RunCompleted>().Results.TrainingSamples);
        Assert.Empty(world.Events.OfType<FaultRecorded>());
    }

    [Fact]
    public void AFailedMemberSendsThePopulationBackToItsCheckpointAndTheReplayMixesAsARunWithoutTheFault()
    {
        string[] settings = ["method=papa-all", "every-epochs=0.5", "checkpoint.every-epochs=1", "repair=on"];
        var clean = World(settings, nodeOf: i => i % 2).RegisterAll().RunToEnd();
        var world = World(settings, nodeOf: i => i % 2).RegisterAll();
        while (!world.Events.OfType<CheckpointDue>().Any() || world.Run.Round < 3)
            world.Step();
        world.DeliverAllFrom(RunWorld.Recorder); // the checkpoint is written
        world.RestartMember(2);
        world.RunToEnd();

        Assert.Equal("member-lost", world.Events.OfType<FaultRecorded>().Single().Kind);
        Assert.Equal(2, world.Event<RollBack>().Round);
        Assert.All(world.Sent<RestoreState>(), r => Assert.Equal((2, 101L), (r.Round, r.Attempt)));
        // Every mix of the faulted run is one of the clean run's, in its order, and some were sent twice: the replay's.
        var mixes = MixesOf(world);
        Assert.Equal(MixesOf(clean), mixes.Distinct());
        Assert.True(mixes.Count > MixesOf(clean).Count);
        Assert.Equal(clean.Event<RunCompleted>().Results.TrainingSamples, world.Event<RunCompleted>().Results.TrainingSamples);
    }

    [Fact]
    public void AMemberThatFailsInEveryReplayEndsTheRunAfterMaxRestarts()
    {
        var world = World(["method=none", "max-restarts=2"]).RegisterAll();
        for (var failures = 0; world.Run.Phase != RunPhase.Stopped; world.Step())
        {
            if (world.Run.Phase == RunPhase.Training && world.Sent<Train>().Count() > 4 * failures && failures < 5)
            {
                world.RestartMember(1);
                failures++;
            }
        }

        Assert.Equal(2, world.Events.OfType<RollBack>().Count());
        Assert.Equal("member 1 failed: scripted failure (after 2 rollback(s) for it since the last checkpoint, max-restarts = 2)", world.Event<RunFailed>().Reason);
    }

    [Fact]
    public void AnInterruptEndsTheRunAtTheNextRoundBoundaryOnceItsCheckpointIsWritten()
    {
        var world = World(["method=papa", "ema-every-steps=5"]).RegisterAll();
        while (world.Run.Round < 1)
            world.Step();
        world.HandleNow(RunWorld.Recorder, new Interrupt("SIGINT"));
        world.RunToEnd();

        Assert.Equal(2, world.Event<CheckpointDue>().Checkpoint.Round);
        Assert.Equal((2, "SIGINT"), (world.Event<RunInterrupted>().CheckpointRound, world.Event<RunInterrupted>().Reason));
        Assert.DoesNotContain(world.Sent<Train>(), t => t.Round == 2);
    }

    [Theory]
    [InlineData("method=papa-2")]   // the finite members' weights are collected for the mean
    [InlineData("method=papa-all")] // the node sums leave the diverged member out
    public void ADivergedMemberIsResetToTheMeanOfTheFiniteOnesWhenThePolicySaysSo(string method)
    {
        var world = World([method, "on-divergence=reset"]);
        world.Loss = (member, round) => member == 3 && round == 1 ? double.NaN : 1.0;
        world.RegisterAll().RunToEnd();

        var reset = world.Event<MembersReset>();
        Assert.Equal([3], reset.Members);
        var restore = world.Sent<RestoreState>().Single();
        Assert.Equal([0.33333, 0.33333, 0.33333, 0], TracerWeights.Shares(restore.State!.Weights).Select(s => Math.Round(s, 5)));
        Assert.NotNull(world.Event<RunCompleted>());
    }

    [Fact]
    public void ACheckpointStateOvertakenByItsNodesReportIsTheCheckpointsNotTheResets()
    {
        // Each member answers the capture before it trains, but a node's report comes from another actor and may
        // arrive first: the run then asks the finite members again, and takes for the reset only states of the step
        // each member reported.
        var world = World(["method=papa-2", "every-epochs=0.5", "checkpoint.every-epochs=0.5", "on-divergence=reset"]);
        world.Loss = (member, round) => member == 3 && round == 1 ? double.NaN : 1.0;
        world.RegisterAll();
        while (!world.Sent<CaptureState>().Any(c => c.Round == 1))
            world.Step();
        world.DeliverAllFrom("node-0");
        Assert.Equal(RunPhase.CollectingForReset, world.Run.Phase);
        world.DeliverAllFrom("member-3"); // the diverged member's state, for the checkpoint only
        world.RunToEnd();

        var checkpoint = world.Events.OfType<CheckpointDue>().First().Checkpoint;
        Assert.Equal(1, checkpoint.Round);
        Assert.All(checkpoint.Members, m => Assert.Equal(world.StepAt(1), m.Step));
        Assert.Equal([3], world.Event<MembersReset>().Members);
        Assert.NotNull(world.Event<RunCompleted>());
    }

    [Fact]
    public void AfterTheEndASpareNodeLearnsThatTheRunIsOver()
    {
        var world = World(["method=none"]).RegisterAll().RunToEnd();
        world.Send("spare-node", new RequestMissingMembers("akka://papa@spare:1", null));
        world.Step();

        var answer = Assert.IsType<Send<string>>(world.Commands[^1]);
        Assert.Equal(("spare-node", true), (answer.To, ((RunEnded)answer.Message).Completed));
    }

    [Fact]
    public void MemberNodesAreOfferedMissingIndicesEachOnceHeldForTheNodeThatAsked()
    {
        var world = World(["method=none"]);
        IReadOnlyList<int> Ask(string node, ImmutableArray<int>? wanted)
        {
            world.HandleNow(node, new RequestMissingMembers(node, wanted));
            return ((MissingMembers)((Send<string>)world.Commands[^1]).Message).Indices;
        }

        Assert.Equal([0, 1, 2, 3], Ask("A", null));
        Assert.Equal([], Ask("B", null));    // held for A
        Assert.Equal([], Ask("B", [1]));     // held for A, and explicit lists are all or nothing
        Assert.Equal([1, 2], Ask("A", [1, 2]));
        world.Time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal([0, 1, 2, 3], Ask("B", null)); // an offer is held a minute
        world.RegisterAll();
        world.Step();
        Assert.Equal([1, 2, 3], Ask("B", null)); // still B's, but member 0 is taken
    }

    [Fact]
    public void WithoutACheckpointEveryMemberStartsAfreshFromRoundZero()
    {
        var world = World(["method=papa-all", "every-epochs=0.5"]).RegisterAll();
        while (world.Run.Round < 1)
            world.Step();
        world.RestartMember(2);
        world.RunToEnd();

        Assert.Null(world.Event<RollBack>().Round);
        Assert.All(world.Sent<RestoreState>(), r => Assert.Equal((0, null), (r.Round, r.State)));
        Assert.Equal(2, world.Sent<Train>().Count(t => t.Round == 0 && t.Attempt == 101) / 2); // round 0 again, for all four
        Assert.NotNull(world.Event<RunCompleted>());
    }

    [Fact]
    public void WithOnMemberLossFailTheFirstFailureEndsTheRun()
    {
        var world = World(["method=none", "on-member-loss=fail"]).RegisterAll();
        while (world.Run.Phase != RunPhase.Training)
            world.Step();
        world.HandleNow("member-1", new MemberFailed(1, "InvalidOperationException: boom", Restarting: true));

        Assert.Equal("member 1 failed: InvalidOperationException: boom", world.Event<RunFailed>().Reason);
        Assert.Empty(world.Events.OfType<RollBack>());
    }

    [Theory]
    [InlineData("method=papa-all")] // the node's report says so
    [InlineData("method=none")]     // the member's own report says so
    public void ADivergedMemberFailsTheRunAsDivergedNamingMemberStepAndLoss(string method)
    {
        var world = World([method]);
        world.Loss = (member, round) => member == 2 && round == 0 ? double.NaN : 1.0;
        world.RegisterAll().RunToEnd();

        var failed = world.Event<RunFailed>();
        Assert.Equal(RunStatus.Diverged, failed.Status);
        Assert.Equal("member 2 diverged by step 12: loss NaN; on-divergence = fail", failed.Reason);
        Assert.Empty(world.Sent<NodeMix>());
    }

    [Fact]
    public void InANonMixingRoundTheFiniteMembersAreAskedForTheirWeightsToResetADivergedOne()
    {
        var world = World(["method=none", "on-divergence=reset"]);
        world.Loss = (member, round) => member == 0 && round == 0 ? double.PositiveInfinity : 1.0;
        world.RegisterAll().RunToEnd();

        Assert.Equal([1, 2, 3], world.Sent<CaptureState>().Select((_, i) => i + 1)); // of the finite members only
        var reset = world.Sent<RestoreState>().Single();
        Assert.Equal([0.0, 0.33333, 0.33333, 0.33333], TracerWeights.Shares(reset.State!.Weights).Select(s => Math.Round(s, 5)));
        Assert.Empty(reset.State.Optimizer.Layout.Entries); // a fresh optimizer
        Assert.Equal([0], world.Event<MembersReset>().Members);
        Assert.All(world.Sent<Train>(), t => Assert.False(t.SendSnapshot));
        Assert.NotNull(world.Event<RunCompleted>());
    }

    [Fact]
    public void ACheckpointThatCannotBeWrittenFailsTheRunNamingTheCause()
    {
        var world = World(["method=none", "checkpoint.every-epochs=1"]).RegisterAll();
        while (!world.Events.OfType<CheckpointDue>().Any())
            world.Step();
        world.HandleNow(RunWorld.Recorder, new CheckpointFailed(1, "No space left on device"));

        Assert.Equal("could not write the checkpoint of round 1: No space left on device", world.Event<RunFailed>().Reason);
    }

    [Fact]
    public void ANodeReportWithImpossibleNumbersOrWithoutAMemberItRunsIsTheMembersFailure()
    {
        NodeTrained Node(long attempt, params Trained[] reports) => new(attempt, 0, [.. reports], PartialSum.Of([TracerWeights.For(0, 4)]),
            ImmutableDictionary<int, WeightSnapshot>.Empty, ImmutableDictionary<ParentPair, WeightSnapshot>.Empty);
        Trained Report(int member, double? heldOut = null) => new(member, 0, 6, 1, 0.1, 48, 0.1, heldOut, null, Attempt: 100);
        RunWorld Started()
        {
            var world = World(["method=papa-all", "every-epochs=0.5", "on-member-loss=fail", "repair=off"]);
            for (var i = 0; i < 4; i++)
                world.HandleNow(world.Members[i], new Registration<string>(i, world.Members[i], "node-0", TracerWeights.Layout(4).Fingerprint));
            return world;
        }

        var first = Started();
        first.HandleNow("node-0", Node(100, Report(0), Report(1, heldOut: 1.5), Report(2), Report(3)));
        Assert.Equal("member 1 failed: it reported a held-out accuracy of 1.5, outside [0, 1]", first.Event<RunFailed>().Reason);

        var second = Started();
        second.HandleNow("node-0", Node(100, Report(0), Report(1)));
        Assert.Equal("member 0 failed: its node's report for round 0 covers members 0, 1, not 0, 1, 2, 3", second.Event<RunFailed>().Reason);
    }

    [Fact]
    public void ARunThatThrowsOnAnInputFailsWithItsCauseInsteadOfHanging()
    {
        var world = World(["method=papa-all", "every-epochs=0.5", "repair=on"]).RegisterAll();
        var alien = new ActivationStatistics([new LayerStatistics("other", [1], [1])]);
        while (world.Run.Phase != RunPhase.Training)
            world.Step();
        var reports = Enumerable.Range(0, 4).Select(i => new Trained(i, 0, 6, 1, 0.1, 48, 0.1, null, null,
            i == 1 ? alien : TracerWeights.Statistics(i, 4), Attempt: 100)).ToImmutableArray();
        world.HandleNow("node-0", new NodeTrained(100, 0, reports, PartialSum.Of(Enumerable.Range(0, 4).Select(i => TracerWeights.For(i, 4)).ToList()),
            ImmutableDictionary<int, WeightSnapshot>.Empty, ImmutableDictionary<ParentPair, WeightSnapshot>.Empty));

        Assert.StartsWith("the averager failed on NodeTrained: ArgumentException: statistics 1 has layer 'other'", world.Event<RunFailed>().Reason);
        Assert.Equal(RunPhase.Stopped, world.Run.Phase);
    }

    [Fact]
    public void AnyArrivalOrderOfReportsGivesTheSameMixes()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Int).Sample((method, seed) =>
        {
            string[] settings = [new[] { "method=papa", "method=papa-all", "method=papa-2" }[method], "ema-every-steps=3", "every-epochs=0.5", "repair=on"];
            var inOrder = World(settings, nodeOf: i => i % 3).RegisterAll().RunToEnd();
            var shuffled = World(settings, nodeOf: i => i % 3, order: new Random(seed)).RegisterAll().RunToEnd();

            Assert.Equal(MixesOf(inOrder), MixesOf(shuffled));
            Assert.Equal(inOrder.Sent<Train>().Select(t => (t.Round, t.Steps)), shuffled.Sent<Train>().Select(t => (t.Round, t.Steps)));
            Assert.Equal(inOrder.Event<RunCompleted>().Results.TrainingSamples, shuffled.Event<RunCompleted>().Results.TrainingSamples);
        }, iter: 60);
    }

    [Fact]
    public void AnySequenceOfFaultsEndsTheRunCompletedFailedOrInterruptedNeverStuck()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Int, Gen.Int[1, 30]).Sample((method, seed, faultEvery) =>
        {
            string[] settings = [new[] { "method=papa", "method=papa-all", "method=papa-2" }[method], "ema-every-steps=4", "every-epochs=0.5",
                "checkpoint.every-epochs=0.5", "on-divergence=reset", "max-restarts=2"];
            var random = new Random(seed);
            var world = World(settings, nodeOf: i => i % 2, order: random);
            world.Loss = (member, round) => random.Next(40) == 0 ? double.NaN : 1.0;
            world.RegisterAll();
            for (var steps = 0; world.Run.Phase != RunPhase.Stopped; steps++)
            {
                Assert.True(steps < 20_000, $"the run did not end within 20000 steps (phase {world.Run.Phase}, round {world.Run.Round})");
                if (random.Next(faultEvery * 10) == 0)
                    Inject(world, random);
                Assert.True(world.Step(), $"the run is stuck in phase {world.Run.Phase}, round {world.Run.Round}");
            }

            Assert.All(world.Events.OfType<CheckpointDue>(), due => Assert.All(due.Checkpoint.Members,
                m => Assert.Equal(world.StepAt(due.Checkpoint.Round), m.Step))); // each state of its own boundary
            var ends = world.Events.Where(e => e is RunCompleted or RunFailed or RunInterrupted).ToList();
            Assert.Single(ends);
            Assert.All(world.Sent<RunEnded>(), e => Assert.Equal(ends[0] is RunCompleted, e.Completed)); // none when it ended before anyone registered
        }, iter: 300);
    }

    private static void Inject(RunWorld world, Random random)
    {
        var member = random.Next(world.Population);
        switch (random.Next(5))
        {
            case 0:
                world.RestartMember(member);
                break;
            case 1:
                world.ReplaceMember(member);
                break;
            case 2:
                world.LoseNextInput(random);
                break;
            case 3:
                world.Send(RunWorld.Recorder, new Interrupt("SIGTERM"));
                break;
            default:
                world.Deliver(RunWorld.Outside, new TimedOut(RunTimer.Round, world.Run.Round)); // a slow member: the timeout comes first
                break;
        }
    }
}
