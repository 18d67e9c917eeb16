using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Replay;
using PapaActors.Actors.Schedule;
using PapaActors.Models.Training;
using PapaActors.Models.Weights;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors;

/// <summary>
/// How the real AveragerActor meets faults, with TestProbes as members and as the run recorder: rollback to a
/// checkpoint, the restart budget, divergence, interrupts and its own failure. Every message is serialized.
/// </summary>
public sealed class AveragerFaultTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
{
    // REPAIR off: these probes answer Train by hand, without statistics (REPAIR's faults are tested with it on below).
    private AveragerHarness Harness(params string[] overrides) =>
        new(this, TestSettings.Tiny(["population=3", "epochs=2", "sync-every-steps=100", "method=papa-all", "every-epochs=0.5", "repair=off", .. overrides]), stepsPerEpoch: 12);

    /// <summary>Answers the Averager's RollBack as the recorder would, and each member's RestoreState.</summary>
    private static IReadOnlyList<RestoreState> RollBackTo(AveragerHarness harness, Checkpoint? checkpoint)
    {
        harness.Listener.FishForMessage(m => m is RollBack);
        harness.Averager.Tell(new RollbackReady(checkpoint), harness.Listener.Ref);
        var restores = new List<RestoreState>();
        for (var i = 0; i < harness.Population; i++)
        {
            var restore = harness.Members[i].FishForMessage<RestoreState>(_ => true);
            restores.Add(restore);
            harness.Averager.Tell(new StateRestored(i, restore.Round), harness.Members[i].Ref);
        }
        return restores;
    }

    [Fact]
    public void MemberNodesAreOfferedMissingIndicesEachOnceAndTheRunsEndToASpare()
    {
        var harness = Harness();
        var (nodeA, nodeB) = (CreateTestProbe(), CreateTestProbe());
        IReadOnlyList<int> Ask(TestProbe node, string address, ImmutableArray<int>? wanted)
        {
            harness.Averager.Tell(new RequestMissingMembers(address, wanted), node.Ref);
            return node.ExpectMsg<MissingMembers>().Indices;
        }

        Assert.Equal([0, 1, 2], Ask(nodeA, "A", null));
        Assert.Equal([], Ask(nodeB, "B", null));    // held for A
        Assert.Equal([], Ask(nodeB, "B", [1]));     // held for A, and explicit lists are all or nothing
        Assert.Equal([1, 2], Ask(nodeA, "A", [1, 2]));
        harness.RegisterAll();
        Assert.Equal([], Ask(nodeA, "A", null));    // every index has a member

        harness.Members[2].Ref.Tell(PoisonPill.Instance); // a lost member: here a local stop, which fails the run
        harness.ExpectRunEvent<RunFailed>();
        harness.Averager.Tell(new RequestMissingMembers("B", null), nodeB.Ref);
        Assert.False(nodeB.ExpectMsg<RunEnded>().Completed); // a spare learns that the run is over
    }

    [Fact]
    public void AFailingMemberRollsThePopulationBackToTheLastCheckpointAndTheRoundsArePlayedAgain()
    {
        var harness = Harness();
        harness.RegisterAll();
        harness.PlayRound();
        harness.PlayRound();
        Enumerable.Range(0, 3).ToList().ForEach(i => harness.ExpectTrain(i)); // answers the capture for the checkpoint of round 2
        var due = harness.Listener.ExpectMsg<CheckpointDue>();
        Assert.Equal((2, 3), (due.Checkpoint.Round, due.Checkpoint.Members.Count));
        harness.Averager.Tell(new CheckpointWritten(2, "checkpoints/round-000002", 10, 1), harness.Listener.Ref);
        harness.Averager.Tell(new MemberFailed(1, "InvalidOperationException: injected fault", Restarting: true), harness.Members[1].Ref);

        var fault = harness.Listener.FishForMessage<FaultRecorded>(_ => true);
        Assert.Equal(1, fault.Member);
        Assert.Contains("rolling back to the checkpoint of round 2 (1/3)", fault.Detail);
        var checkpoint = new Checkpoint(2, 48, 1, 0, 0, Enumerable.Range(0, 3).Select(i => TracerWeights.State(i, 3)).ToList());
        var restores = RollBackTo(harness, checkpoint);

        Assert.All(restores, r => Assert.Equal(2, r.Round));
        Assert.Equal([0, 1, 2], restores.Select(r => r.State!.Member));
        var replayed = harness.PlayRound();
        Assert.Equal(2, replayed.Completed.Plan.Round);
    }

    [Fact]
    public void WithoutACheckpointEveryMemberStartsAfreshFromRoundZero()
    {
        var harness = Harness();
        harness.RegisterAll();
        Enumerable.Range(0, 3).ToList().ForEach(i => harness.ExpectTrain(i));

        harness.Averager.Tell(new MemberFailed(2, "IOException: lost", Restarting: true), harness.Members[2].Ref);
        Assert.Null(harness.Listener.FishForMessage<RollBack>(_ => true).Round);
        harness.Averager.Tell(new RollbackReady(null), harness.Listener.Ref);

        for (var i = 0; i < 3; i++)
        {
            var restore = harness.Members[i].ExpectMsg<RestoreState>();
            Assert.Equal((0, null), (restore.Round, restore.State));
            harness.Averager.Tell(new StateRestored(i, 0), harness.Members[i].Ref);
        }
        Assert.Equal(0, harness.PlayRound().Completed.Plan.Round);
    }

    [Fact]
    public void AfterMaxRestartsRollbacksTheRunFailsNamingTheMemberAndTheCause()
    {
        var harness = Harness("max-restarts=1");
        harness.RegisterAll();
        harness.Averager.Tell(new MemberFailed(0, "InvalidOperationException: boom", Restarting: true), harness.Members[0].Ref);
        RollBackTo(harness, null);

        harness.Averager.Tell(new MemberFailed(0, "InvalidOperationException: boom", Restarting: true), harness.Members[0].Ref);

        var failed = harness.Listener.FishForMessage<RunFailed>(_ => true);
        Assert.Equal("member 0 failed: InvalidOperationException: boom (after 1 rollback(s) for it since the last checkpoint, max-restarts = 1)", failed.Reason);
    }

    [Fact]
    public void WithOnMemberLossFailTheFirstFailureEndsTheRun()
    {
        var harness = Harness("on-member-loss=fail");
        harness.RegisterAll();

        harness.Averager.Tell(new MemberFailed(1, "InvalidOperationException: boom", Restarting: true), harness.Members[1].Ref);

        Assert.Equal("member 1 failed: InvalidOperationException: boom", harness.Listener.FishForMessage<RunFailed>(_ => true).Reason);
    }

    [Fact]
    public void ADivergedMemberFailsTheRunAsDivergedNamingMemberStepAndLoss()
    {
        var harness = Harness();
        harness.RegisterAll();

        PlayRoundWithDivergedMember(harness, member: 2);

        var failed = harness.Listener.FishForMessage<RunFailed>(_ => true);
        Assert.Equal(RunStatus.Diverged, failed.Status);
        Assert.StartsWith("member 2 diverged by step 6: loss NaN", failed.Reason);
    }

    [Fact]
    public void WithResetADivergedMemberIsReplacedByTheMeanOfTheFiniteOnesAndNeverMixedIn()
    {
        var harness = Harness("on-divergence=reset");
        harness.RegisterAll();

        PlayRoundWithDivergedMember(harness, member: 2);

        var reset = harness.Members[2].ExpectMsg<RestoreState>();
        Assert.Equal([0.5, 0.5, 0.0], TracerWeights.Shares(reset.State!.Weights));
        Assert.Empty(reset.State.Optimizer.Layout.Entries);
        Assert.Equal([2], harness.Listener.FishForMessage<MembersReset>(_ => true).Members);
        var completed = harness.ExpectRunEvent<RoundCompleted>();
        Assert.IsType<ReplaceWithMean>(completed.Plan.Mix);
        // The mean of (member 0, member 1, their mean) has no share of member 2's NaN weights.
        var mixes = Enumerable.Range(0, harness.Population).Select(harness.ExpectMix).ToList();
        Assert.All(mixes, mix => Assert.Equal([0.5, 0.5, 0.0], TracerWeights.Shares(mix.Weights)));
    }

    [Fact]
    public void InANonMixingRoundTheFiniteMembersAreAskedForTheirWeightsToResetADivergedOne()
    {
        var harness = Harness("on-divergence=reset", "method=none");
        harness.RegisterAll();
        var trains = Enumerable.Range(0, 3).Select(harness.ExpectTrain).ToList();
        for (var i = 0; i < 3; i++)
            harness.Averager.Tell(new Trained(i, 0, 12, i == 0 ? double.PositiveInfinity : 1.0, 0.1, 96, 0.1, 0.5, null), harness.Members[i].Ref);

        foreach (var i in new[] { 1, 2 })
        {
            var capture = Assert.IsType<CaptureState>(harness.NextMessage(i));
            harness.Averager.Tell(new StateCaptured(capture.Round, TracerWeights.State(i, 3)), harness.Members[i].Ref);
        }

        var reset = harness.Members[0].ExpectMsg<RestoreState>();
        Assert.Equal([0.0, 0.5, 0.5], TracerWeights.Shares(reset.State!.Weights));
        Assert.Equal([0], harness.Listener.FishForMessage<MembersReset>(_ => true).Members);
        Assert.Equal(0, harness.ExpectRunEvent<RoundCompleted>().Plan.Round);
        Assert.All(trains, t => Assert.False(t.SendSnapshot));
    }

    [Fact]
    public void AnInterruptEndsTheRoundWritesACheckpointAndEndsTheRunAsInterrupted()
    {
        var harness = Harness();
        harness.RegisterAll();
        harness.Averager.Tell(new Interrupt("SIGINT"), ActorRefs.NoSender);

        harness.PlayRound();
        for (var i = 0; i < 3; i++)
        {
            var capture = Assert.IsType<CaptureState>(harness.NextMessage(i));
            Assert.Equal(1, capture.Round);
            harness.Averager.Tell(new StateCaptured(1, TracerWeights.State(i, 3)), harness.Members[i].Ref);
        }
        var due = harness.Listener.ExpectMsg<CheckpointDue>();
        Assert.Equal(1, due.Checkpoint.Round);
        harness.Members.ToList().ForEach(m => m.ExpectNoMsg(TimeSpan.FromMilliseconds(100))); // no further Train
        harness.Averager.Tell(new CheckpointWritten(1, "checkpoints/round-000001", 10, 1), harness.Listener.Ref);

        var interrupted = harness.Listener.ExpectMsg<RunInterrupted>();
        Assert.Equal(1, interrupted.CheckpointRound);
        Assert.All(harness.Members, m => m.ExpectMsg<RunEnded>());
    }

    [Fact]
    public void ACheckpointThatCannotBeWrittenFailsTheRunNamingTheCause()
    {
        var harness = Harness();
        harness.RegisterAll();
        harness.PlayRound();
        harness.PlayRound();
        Enumerable.Range(0, 3).ToList().ForEach(i => harness.ExpectTrain(i)); // answers the capture of round 2
        var due = harness.Listener.FishForMessage<CheckpointDue>(_ => true);

        harness.Averager.Tell(new CheckpointFailed(due.Checkpoint.Round, "No space left on device"), harness.Listener.Ref);

        Assert.Equal("could not write the checkpoint of round 2: No space left on device", harness.Listener.FishForMessage<RunFailed>(_ => true).Reason);
    }

    [Fact]
    public void AnAveragerThatThrowsFailsTheRunWithItsCauseInsteadOfHanging()
    {
        var harness = Harness("repair=on");
        harness.RegisterAll();
        var trains = Enumerable.Range(0, 3).Select(harness.ExpectTrain).ToList();
        Assert.True(trains[0].SendSnapshot);
        var alien = new ActivationStatistics([new LayerStatistics("other", [1], [1])]);

        for (var i = 0; i < 3; i++)
            harness.Report(i, new Trained(i, 0, 6, 1, 0.1, 48, 0.1, null, TracerWeights.For(i, 3), i == 1 ? alien : TracerWeights.Statistics(i, 3), Attempt: trains[i].Attempt));

        var failed = harness.Listener.FishForMessage<RunFailed>(_ => true, TimeSpan.FromSeconds(5));
        Assert.StartsWith("the averager failed on NodeTrained: ArgumentException: statistics 1 has layer 'other'", failed.Reason);
    }

    [Fact]
    public void AReportWithoutTheSnapshotAMixNeedsIsTheMembersFailure()
    {
        var harness = Harness("on-member-loss=fail");
        harness.RegisterAll();

        var trains = Enumerable.Range(0, 3).Select(harness.ExpectTrain).ToList();
        for (var i = 0; i < 3; i++)
            harness.Reducer.Tell(new Trained(i, 0, 6, 1, 0.1, 48, 0.1, null, i == 1 ? null : TracerWeights.For(i, 3), Attempt: trains[i].Attempt), harness.Members[i].Ref);

        Assert.Equal("member 1 failed: it sent no snapshot for round 0", harness.Listener.FishForMessage<RunFailed>(_ => true).Reason);
    }

    [Fact]
    public void ANodeReportWithImpossibleNumbersOrWithoutAMemberItRunsIsTheMembersFailureNotTheAveragers()
    {
        var harness = Harness("on-member-loss=fail");
        harness.RegisterAll();
        var attempt = Enumerable.Range(0, 3).Select(harness.ExpectTrain).First().Attempt;
        Trained Report(int member, double? heldOut = null) => new(member, 0, 6, 1, 0.1, 48, 0.1, heldOut, null, Attempt: attempt);
        NodeTrained Node(params Trained[] reports) =>
            new(attempt, 0, [.. reports], PartialSum.Of([TracerWeights.For(0, 3)]), ImmutableDictionary<int, WeightSnapshot>.Empty,
                ImmutableDictionary<ParentPair, WeightSnapshot>.Empty);

        harness.Averager.Tell(Node(Report(0), Report(1, heldOut: 1.5), Report(2)), harness.Reducer);
        Assert.Equal("member 1 failed: it reported a held-out accuracy of 1.5, outside [0, 1]", harness.Listener.FishForMessage<RunFailed>(_ => true).Reason);

        var second = Harness("on-member-loss=fail");
        second.RegisterAll();
        attempt = Enumerable.Range(0, 3).Select(second.ExpectTrain).First().Attempt;
        second.Averager.Tell(Node(Report(0), Report(1)), second.Reducer);
        Assert.Equal("member 0 failed: its node's report for round 0 covers members 0, 1, not 0, 1, 2", second.Listener.FishForMessage<RunFailed>(_ => true).Reason);
    }

    private static void PlayRoundWithDivergedMember(AveragerHarness harness, int member)
    {
        var trains = Enumerable.Range(0, harness.Population).Select(harness.ExpectTrain).ToList();
        for (var i = 0; i < harness.Population; i++)
            harness.Report(i, new Trained(i, trains[i].Round, 6, i == member ? double.NaN : 1.0, 0.1, 48, 0.1, null,
                TracerWeights.For(i, harness.Population), Finite: i != member, Attempt: trains[i].Attempt));
    }
}
