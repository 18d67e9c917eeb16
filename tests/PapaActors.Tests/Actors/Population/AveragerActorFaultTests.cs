using System.Collections.Immutable;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Checkpoints;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Replay;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Population;

/// <summary>
/// How the real AveragerActor and NodeReducer meet faults, with TestProbes as members and as the run recorder: offers to
/// member nodes, a stopped member, a rollback to a checkpoint, a report the reducer cannot use. Every message is
/// serialized. The run's decisions themselves are unit-tested in <see cref="PopulationRunTests"/>.
/// </summary>
public sealed class AveragerActorFaultTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
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
    public void AReportWithoutTheSnapshotAMixNeedsIsTheMembersFailure()
    {
        var harness = Harness("on-member-loss=fail");
        harness.RegisterAll();

        var trains = Enumerable.Range(0, 3).Select(harness.ExpectTrain).ToList();
        for (var i = 0; i < 3; i++)
            harness.Reducer.Tell(new Trained(i, 0, 6, 1, 0.1, 48, 0.1, null, i == 1 ? null : TracerWeights.For(i, 3), Attempt: trains[i].Attempt), harness.Members[i].Ref);

        Assert.Equal("member 1 failed: it sent no snapshot for round 0", harness.Listener.FishForMessage<RunFailed>(_ => true).Reason);
    }
}
