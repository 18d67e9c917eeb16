using Akka.Actor;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Security;
using PapaActors.Actors.Serialization;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Security;

/// <summary>Seals of the run's session key: what opens, and what a stranger or a replay cannot make open.</summary>
public sealed class RunSessionTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
{
    private readonly TempFolder _folder = new();
    private static readonly Address Node = new("akka.tcp", "papa", "10.0.0.1", 4053);

    private RunSecret Secret(string text)
    {
        var file = _folder.File(Guid.NewGuid().ToString("N"));
        File.WriteAllText(file, text);
        return RunSecret.Load(file)!;
    }

    /// <summary>The seal as its receiver gets it: written and read by the serializer, a new object.</summary>
    private Sealed OverTheWire(Sealed message)
    {
        var serializer = new PapaSerializer((ExtendedActorSystem)Sys);
        return (Sealed)serializer.FromBinary(serializer.ToBinary(message), serializer.Manifest(message));
    }

    [Fact]
    public void ASealOpensOnceForItsOwnSenderAndReceiverAndNeverUnderAnotherKeyOrAfterALaterOne()
    {
        var secret = Secret("a run secret of the tests, 0123456789abcdef");
        var nonce = RunSecret.NewNonce();
        var sending = secret.Session(nonce, Node);
        var receiving = secret.Session(nonce, Node);
        var (averager, member, other) = (CreateTestProbe().Ref, CreateTestProbe().Ref, CreateTestProbe().Ref);
        var mix = new Mix(3, Samples.Snapshot(2), 0.5, null, Samples.Statistics(1), Attempt: 9);
        var first = sending.Seal(mix, averager, member);
        var second = sending.Seal(new Train(4, 10, SendSnapshot: true, EvaluateHeldOut: false), averager, member);

        Assert.False(receiving.Open(OverTheWire(first), other, member)); // another sender
        Assert.False(receiving.Open(OverTheWire(first), averager, other)); // another receiver
        Assert.False(secret.Session(RunSecret.NewNonce(), Node).Open(OverTheWire(first), averager, member)); // another run
        Assert.False(Secret("another secret of sixteen bytes or more").Session(nonce, Node).Open(OverTheWire(first), averager, member));
        Assert.False(receiving.Open(OverTheWire(first with { Message = mix with { Keep = 0.25 } }), averager, member)); // altered

        var opened = OverTheWire(first);
        Assert.True(receiving.Open(opened, averager, member));
        Samples.AssertSame(mix, opened.Message);
        Assert.True(receiving.Open(opened, averager, member)); // the same object again: stashed by its receiver
        Assert.False(receiving.Open(OverTheWire(first), averager, member)); // a replay
        Assert.True(receiving.Open(OverTheWire(second), averager, member));
        Assert.False(receiving.Open(OverTheWire(first), averager, member)); // older than the last one taken
        // Each receiver counts for itself: the later seal to another actor does not age this one's.
        Assert.True(receiving.Open(OverTheWire(sending.Seal(mix, averager, other)), averager, other));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _folder.Dispose();
        base.Dispose(disposing);
    }
}
