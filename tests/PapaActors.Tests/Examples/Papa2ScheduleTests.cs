using Akka.TestKit.Xunit2;
using PapaActors.Actors.Messages;
using PapaActors.Testing;
using Xunit;

namespace MyLab.ScheduleTests;

// PAPA-2 on 4 members, refilled every half epoch: the real Averager, TestProbes as members, no training.
public class Papa2ScheduleTests()
    : TestKit(PapaTestKitConfig.For("method=papa-2", "population=4", "epochs=2", "every-epochs=0.5", "seed=7"))
{
    [Fact]
    public void EveryRefillGivesEachMemberTheChildOfTwoDistinctParents()
    {
        var harness = new AveragerHarness(this, stepsPerEpoch: 100);
        harness.RegisterAll();

        var mixes = AveragerHarness.MixesOf(harness.PlayAllRounds());

        Assert.Equal(3 * 4, mixes.Count); // refills after steps 50, 100 and 150 of 200
        Assert.All(mixes, mix =>
        {
            var (first, second) = (mix.Parents!.Value.First, mix.Parents.Value.Second);
            Assert.Equal(0, mix.Keep); // the child replaces the member
            Assert.Equal(mix.Member, first); // and the member is one of its parents
            Assert.NotEqual(first, second);
            Assert.Equal(0.5, mix.Shares[second]);
        });
    }

    [Fact]
    public void AMemberThatNeverAnswersFailsTheRunAtTheRoundTimeout()
    {
        var harness = new AveragerHarness(this, stepsPerEpoch: 100);
        harness.RegisterAll();

        harness.AdvanceTime(TimeSpan.FromMinutes(10)); // papa.round-timeout, on virtual time

        var failure = harness.Listener.ExpectMsg<RunFailed>();
        Assert.Contains("no answer from member(s) 0, 1, 2, 3", failure.Reason);
    }
}
