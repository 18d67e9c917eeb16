using Akka.TestKit.Xunit2;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Replay;
using PapaActors.Testing;

namespace PapaActors.Tests.Actors.Population;

/// <summary>
/// The exact Mix sequences the real Averager sends for each method: 4 TestProbe members, 2 epochs of 6 steps,
/// no training, virtual time. These are the contract a recorded journal is replayed against.
/// </summary>
public sealed class AveragerActorMixSequenceTests() : TestKit(PapaTestKitConfig.For(Common))
{
    private static readonly string[] Common = ["population=4", "epochs=2", "ema-every-steps=4", "every-epochs=0.5", "rho=0.75", "seed=1"];

    private IReadOnlyList<string> Play(params string[] overrides)
    {
        var settings = PapaActors.Actors.Configuration.PapaSettings.FromConfig(PapaActors.Actors.Configuration.PapaConfig.Load(null, [.. Common, .. overrides]));
        var harness = new AveragerHarness(this, settings, stepsPerEpoch: 6);
        harness.RegisterAll();
        return AveragerHarness.MixesOf(harness.PlayAllRounds()).Select(m => m.ToString()).ToList();
    }

    [Fact]
    public void PapaSendsEveryMemberKeepRhoAndEqualSharesOfTheMeanInEachPushRound()
    {
        Assert.Equal([
            "round 0 -> member 0: keep 0.75, shares [0.25, 0.25, 0.25, 0.25]",
            "round 0 -> member 1: keep 0.75, shares [0.25, 0.25, 0.25, 0.25]",
            "round 0 -> member 2: keep 0.75, shares [0.25, 0.25, 0.25, 0.25]",
            "round 0 -> member 3: keep 0.75, shares [0.25, 0.25, 0.25, 0.25]",
            "round 2 -> member 0: keep 0.75, shares [0.25, 0.25, 0.25, 0.25]",
            "round 2 -> member 1: keep 0.75, shares [0.25, 0.25, 0.25, 0.25]",
            "round 2 -> member 2: keep 0.75, shares [0.25, 0.25, 0.25, 0.25]",
            "round 2 -> member 3: keep 0.75, shares [0.25, 0.25, 0.25, 0.25]",
        ], Play("method=papa"));
    }

    [Fact]
    public void PapaAllSendsEveryMemberKeepZeroAndEqualSharesInEveryRound()
    {
        Assert.Equal(Enumerable.Range(0, 3).SelectMany(round => Enumerable.Range(0, 4).Select(member =>
            $"round {round} -> member {member}: keep 0, shares [0.25, 0.25, 0.25, 0.25]")), Play("method=papa-all"));
    }

    [Fact]
    public void Papa2SendsEachMemberTheChildOfTwoParentsAlongARandomCycleOfTheMembers()
    {
        // Each refill is a random cycle through the members (0->1->2->3, 0->1->3->2, 0->2->3->1 here):
        // member pi_k gets the child of pi_k and pi_k+1.
        Assert.Equal([
            "round 0 -> member 0: keep 0, parents 0+1, shares [0.5, 0.5, 0, 0]",
            "round 0 -> member 1: keep 0, parents 1+2, shares [0, 0.5, 0.5, 0]",
            "round 0 -> member 2: keep 0, parents 2+3, shares [0, 0, 0.5, 0.5]",
            "round 0 -> member 3: keep 0, parents 3+0, shares [0.5, 0, 0, 0.5]",
            "round 1 -> member 0: keep 0, parents 0+1, shares [0.5, 0.5, 0, 0]",
            "round 1 -> member 1: keep 0, parents 1+3, shares [0, 0.5, 0, 0.5]",
            "round 1 -> member 2: keep 0, parents 2+0, shares [0.5, 0, 0.5, 0]",
            "round 1 -> member 3: keep 0, parents 3+2, shares [0, 0, 0.5, 0.5]",
            "round 2 -> member 0: keep 0, parents 0+2, shares [0.5, 0, 0.5, 0]",
            "round 2 -> member 1: keep 0, parents 1+0, shares [0.5, 0.5, 0, 0]",
            "round 2 -> member 2: keep 0, parents 2+3, shares [0, 0, 0.5, 0.5]",
            "round 2 -> member 3: keep 0, parents 3+1, shares [0, 0.5, 0, 0.5]",
        ], Play("method=papa-2"));
    }

    [Fact]
    public void NoneSendsNoMix() => Assert.Empty(Play("method=none"));

    [Fact]
    public void TheSameSeedGivesTheSameSequenceAndAnotherSeedOtherPairs()
    {
        Assert.Equal(Play("method=papa-2"), Play("method=papa-2"));
        Assert.NotEqual(Play("method=papa-2"), Play("method=papa-2", "seed=2"));
        Assert.Equal(Play("method=papa"), Play("method=papa", "seed=2"));
    }

    [Fact]
    public void ASilentMemberFailsTheRoundOnlyWhenVirtualTimeReachesTheTimeout()
    {
        var harness = new AveragerHarness(this, stepsPerEpoch: 6);
        harness.RegisterAll();
        for (var i = 0; i < 3; i++)
        {
            var train = harness.Members[i].ExpectMsg<Train>();
            harness.Report(i, new Trained(i, train.Round, 4, 1, 0.1, 32, 0.01, null, train.SendSnapshot ? TracerWeights.For(i, harness.Population) : null, Attempt: train.Attempt));
        }

        harness.AdvanceTime(harness.Settings.RoundTimeout - TimeSpan.FromSeconds(1));
        harness.Listener.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        harness.AdvanceTime(TimeSpan.FromSeconds(1));

        // The members share one reducer, which answers for all four at once.
        Assert.Equal("round 0 timed out after 00:10:00: no answer from member(s) 0, 1, 2, 3 (in a mixing round a node answers for all its members at once)",
            harness.Listener.ExpectMsg<RunFailed>().Reason);
    }
}
