using Akka.Actor;
using Akka.TestKit.Xunit2;
using PapaActors.Actors;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Replay;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors;

/// <summary>Averaging and souping run on papa-compute-dispatcher, never on the threads of the default dispatcher.</summary>
public sealed class ComputeDispatcherTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
{
    private static string DispatcherOf(IActorRef actor) => ((ActorCell)((ActorRefWithCell)actor).Underlying).Dispatcher.Id;

    [Fact]
    public void TheAveragerItsNodeReducerAndTheSoupsComputeOnTheComputeDispatcher()
    {
        var harness = new AveragerHarness(this, TestSettings.Tiny("population=2", "epochs=1", "method=papa-all", "every-epochs=0.5"), stepsPerEpoch: 4);
        harness.RegisterAll();
        Assert.NotEmpty(harness.PlayAllRounds().SelectMany(r => r.Mixes)); // the reducer summed, the averager took the mean
        for (var i = 0; i < harness.Population; i++)
        {
            harness.Members[i].ExpectMsg<Finish>();
            harness.Averager.Tell(new MemberFinal(i, TracerWeights.For(i, harness.Population), 0.8, 0.8, [1, 0, 0, 1], TracerWeights.Statistics(i, harness.Population)),
                harness.Members[i].Ref);
        }
        harness.Members[0].ExpectMsg<EvaluateWeights>(); // the average soup, asked for by the soup actor
        var soups = harness.Members[0].LastSender;

        Assert.Equal([ComputeDispatcher.Id, ComputeDispatcher.Id, ComputeDispatcher.Id], new[] { harness.Averager, harness.Reducer, soups }.Select(DispatcherOf));
    }

    [Fact]
    public void TheComputeDispatcherHasThreadsOfItsOwn()
    {
        var reporter = Sys.ActorOf(Props.Create(() => new ThreadReporter()).WithDispatcher(ComputeDispatcher.Id));

        reporter.Tell("which thread?");

        var thread = ExpectMsg<ThreadSeen>();
        Assert.False(thread.PoolThread); // not the .NET thread pool, where the default dispatcher runs
        Assert.Contains("papa-compute-dispatcher", thread.Name);
    }

    [Fact]
    public void WhileTheComputeThreadsAreBusyTheAveragerWaitsAndTheDefaultDispatcherStillAnswers()
    {
        var harness = new AveragerHarness(this, TestSettings.Tiny("population=2"), stepsPerEpoch: 4);
        using var release = new ManualResetEventSlim();
        // As long a computation as the test wants: every thread of the compute dispatcher is held until released.
        var busy = Enumerable.Range(0, 2).Select(_ => Sys.ActorOf(Props.Create(() => new Blocker(release)).WithDispatcher(ComputeDispatcher.Id))).ToList();
        busy.ForEach(b => b.Tell("block"));
        ExpectMsg("blocked");
        ExpectMsg("blocked");
        var member = harness.Members[0];
        var echo = Sys.ActorOf(Props.Create(() => new ThreadReporter()));
        try
        {
            harness.Averager.Tell(new RegisterMember(0, member.Ref, TracerWeights.Layout(2).Fingerprint, harness.Reducer), member.Ref);
            echo.Tell("ping");

            Assert.True(ExpectMsg<ThreadSeen>(TimeSpan.FromSeconds(30)).PoolThread); // answered on the default dispatcher
            Assert.False(member.HasMessages); // the averager has had no thread yet
        }
        finally
        {
            release.Set();
        }
        member.ExpectMsg<MemberAccepted>(TimeSpan.FromSeconds(30));
    }

    private sealed record ThreadSeen(string? Name, bool PoolThread) : INoSerializationVerificationNeeded;

    private sealed class ThreadReporter : ReceiveActor
    {
        public ThreadReporter() => ReceiveAny(_ => Sender.Tell(new ThreadSeen(Thread.CurrentThread.Name, Thread.CurrentThread.IsThreadPoolThread)));
    }

    private sealed class Blocker : ReceiveActor
    {
        public Blocker(ManualResetEventSlim release) => Receive<string>(_ =>
        {
            Sender.Tell("blocked");
            release.Wait(TimeSpan.FromMinutes(1));
        });
    }
}
