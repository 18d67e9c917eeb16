using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using PapaActors.Actors;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Serialization;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Weights;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Transfer;

/// <summary>
/// The stream path between two ActorSystems with Akka.Remote on 127.0.0.1 (this TestKit's system receives, a second one
/// sends), and its frame format on its own. Messages above 1 KiB stream. Waits that must end well time out after 20 s, so a
/// busy machine does not fail them; the tests of the timeout itself use a system of their own that waits 1 s.
/// </summary>
public sealed class StreamTransportTests : TestKit, IDisposable
{
    private static readonly string[] Transfer = ["transfer.stream-above=1KiB", "transfer.timeout=20s"];
    private static readonly string[] Impatient = [.. Transfer, "transfer.timeout=1s"];
    private readonly ActorSystem _sending;

    public StreamTransportTests() : base(RemoteConfig(Transfer))
    {
        _sending = ActorSystem.Create("sending", RemoteConfig(Transfer));
    }

    private static Config RemoteConfig(string[] overrides, int port = 0) =>
        (PapaTestKitConfig.Setup(TestSettings.TinyConfig(overrides), virtualTime: false) with
        {
            Remote = new NodeEndpoint("127.0.0.1", port),
            Overrides = ConfigurationFactory.ParseString("akka.remote.retry-gate-closed-for = 100ms"),
        }).ToConfig();

    void IDisposable.Dispose()
    {
        _sending.Terminate().Wait(TimeSpan.FromSeconds(10));
        Dispose();
    }

    /// <summary>Tells the test what it handles, and each announcement as it comes in.</summary>
    private sealed class Recorder : BulkReceivingActor
    {
        private readonly IActorRef _test;

        public Recorder(IActorRef test)
        {
            _test = test;
            ReceiveAny(m => test.Tell(m));
        }

        protected override bool AroundReceive(Receive receive, object message)
        {
            if (message is StreamedMessage)
                _test.Tell(message.GetType().Name);
            return base.AroundReceive(receive, message);
        }
    }

    private static Mix LargeMix(int round, int floats = 2_000_000)
    {
        var random = new Random(round);
        var values = Enumerable.Range(0, floats).Select(_ => random.NextSingle()).ToArray();
        var layout = new WeightLayout([new WeightEntry("features.0.weight", [floats], WeightKind.Parameter)]);
        return new Mix(round, WeightSnapshot.FromOwned(layout, values), 0.25, null);
    }

    /// <summary>
    /// A recorder in <paramref name="receiving"/> (by default this TestKit's system) as the sending system sees it, and an
    /// actor there to send in the name of.
    /// </summary>
    private (IActorRef Recorder, IActorRef Sender) Connect(ActorSystem sending, ActorSystem? receiving = null)
    {
        receiving ??= Sys;
        receiving.ActorOf(Props.Create(() => new Recorder(TestActor)), "recorder");
        return (Resolve(sending, "recorder", receiving), sending.ActorOf(Props.Empty));
    }

    /// <summary>An actor of <paramref name="receiving"/> (by default this TestKit's system) as <paramref name="sending"/> sees it.</summary>
    private IActorRef Resolve(ActorSystem sending, string name, ActorSystem? receiving = null, TimeSpan? timeout = null)
    {
        var address = ((ExtendedActorSystem)(receiving ?? Sys)).Provider.DefaultAddress;
        var resolving = sending.ActorSelection(new RootActorPath(address) / "user" / name).ResolveOne(timeout ?? TimeSpan.FromSeconds(10));
        Assert.True(resolving.Wait((timeout ?? TimeSpan.FromSeconds(10)) + TimeSpan.FromSeconds(5)), $"{name} was not found from {sending.Name}");
        return resolving.Result;
    }

    [Fact]
    public void ALargeMessageCrossesOnTheStreamAndArrivesEqual()
    {
        var (recorder, sender) = Connect(_sending);
        var mix = LargeMix(1);

        BulkTransport.For(_sending).Send(recorder, mix, sender);

        ExpectMsg(nameof(StreamedMessage));
        Samples.AssertSame(mix, ExpectMsg<Mix>(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void AMessageUpToTheThresholdCrossesAsAPlainAkkaMessage()
    {
        var (recorder, sender) = Connect(_sending);
        var mix = LargeMix(1, floats: 100);
        Assert.True(new PapaSerializer((ExtendedActorSystem)_sending).SizeOf(mix) <= 1024);

        BulkTransport.For(_sending).Send(recorder, mix, sender);

        Samples.AssertSame(mix, ExpectMsg<Mix>(TimeSpan.FromSeconds(10))); // no announcement before it
    }

    [Fact]
    public void ABigMessageAndTheSmallOnesSentAfterItArriveInSendOrder()
    {
        var (recorder, sender) = Connect(_sending);
        var transport = BulkTransport.For(_sending);
        IgnoreMessages<string>(_ => true); // announcements, seen as they come in (the second while the first waits)

        transport.Send(recorder, LargeMix(1), sender);
        transport.Send(recorder, new Train(2, 10, true, false), sender);
        transport.Send(recorder, LargeMix(3, floats: 300_000), sender);
        recorder.Tell(new Finish(4), sender);

        Assert.Equal(1, ExpectMsg<Mix>(TimeSpan.FromSeconds(10)).Round);
        Assert.Equal(2, ExpectMsg<Train>().Round);
        Assert.Equal(3, ExpectMsg<Mix>(TimeSpan.FromSeconds(10)).Round);
        Assert.Equal(4, ExpectMsg<Finish>().Round);
    }

    [Fact]
    public void AnnouncedMessagesWhosePayloadsNeverComeFailAfterTheTimeoutAndTheMessagesBehindThemFollowInOrder()
    {
        using var impatient = ActorSystem.Create("impatient", RemoteConfig(Impatient));
        var (recorder, _) = Connect(_sending, impatient);

        recorder.Tell(new StreamedMessage(7, 5000, "mix"), TestActor);
        recorder.Tell(new Train(1, 10, false, false), TestActor);

        ExpectMsg(nameof(StreamedMessage));
        var failure = ExpectMsg<TransferFailed>(TimeSpan.FromSeconds(5));
        Assert.Equal(7, failure.TransferId);
        Assert.Contains("its payload did not arrive within 1 s (papa.transfer.timeout)", failure.Reason);
        Assert.Equal(1, ExpectMsg<Train>().Round);
    }

    [Fact]
    public void ACorruptedPayloadFailsItsTransferDeliversNothingAndTheConnectionGoesOn()
    {
        var (recorder, _) = Connect(_sending);
        var good = Frame(11, recorder, LargeMix(1, floats: 1000));
        var corrupted = Frame(12, recorder, LargeMix(2, floats: 1000));
        corrupted[^100] ^= 0x10;

        using var connection = RawConnection();
        connection.GetStream().Write(good);
        connection.GetStream().Write(corrupted);
        Thread.Sleep(300); // most likely, the good payload is in before its announcement: it waits for it
        recorder.Tell(new StreamedMessage(11, good.Length - Overhead(recorder), "mix"), TestActor);
        recorder.Tell(new StreamedMessage(12, corrupted.Length - Overhead(recorder), "mix"), TestActor);

        ExpectMsg(nameof(StreamedMessage));
        Samples.AssertSame(LargeMix(1, floats: 1000), ExpectMsg<Mix>());
        ExpectMsg(nameof(StreamedMessage));
        Assert.Contains("checksum mismatch", ExpectMsg<TransferFailed>().Reason);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void ATruncatedPayloadFailsItsTransferAndDeliversNothing()
    {
        var (recorder, _) = Connect(_sending);
        var frame = Frame(21, recorder, LargeMix(1, floats: 1000));

        using (var connection = RawConnection())
            connection.GetStream().Write(frame.AsSpan(0, frame.Length / 2));
        recorder.Tell(new StreamedMessage(21, frame.Length - Overhead(recorder), "mix"), TestActor);

        ExpectMsg(nameof(StreamedMessage));
        var failure = ExpectMsg<TransferFailed>();
        Assert.Contains("the stream connection closed after", failure.Reason);
        ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void AFrameAnnouncingMoreThanTheLimitFailsItsTransferAndDropsTheConnection()
    {
        var (recorder, _) = Connect(_sending);
        var frame = Frame(31, recorder, LargeMix(1, floats: 1000));
        BitConverter.GetBytes(3L << 30).CopyTo(frame, 12); // the payload length

        using var connection = RawConnection();
        connection.GetStream().Write(frame.AsSpan(0, Overhead(recorder) - 4)); // the header alone
        recorder.Tell(new StreamedMessage(31, 4000, "mix"), TestActor);

        ExpectMsg(nameof(StreamedMessage));
        Assert.Contains("the stream announced a 3221225472-byte 'mix' message, more than papa.transfer.max-message-bytes (2147483648)", ExpectMsg<TransferFailed>().Reason);
        connection.ReceiveTimeout = 5000;
        Assert.Equal(0, connection.GetStream().Read(new byte[1])); // closed by the receiving node
    }

    [Fact]
    public void AMessageOverTheReceiversLimitFailsAndTheNextOneArrives()
    {
        // The sender learns the receiving node's limit with its port, so it never streams a frame that would get the
        // connection dropped (and the frames behind it lost).
        using var strict = ActorSystem.Create("strict", RemoteConfig([.. Transfer, "transfer.max-message-bytes=64KiB"]));
        var (recorder, sender) = Connect(_sending, strict);
        var transport = BulkTransport.For(_sending);
        IgnoreMessages<string>(_ => true);

        transport.Send(recorder, LargeMix(1, floats: 20_000), sender);
        Assert.Contains("more than papa.transfer.max-message-bytes (65536)", ExpectMsg<TransferFailed>(TimeSpan.FromSeconds(5)).Reason);
        var next = LargeMix(2, floats: 10_000);
        transport.Send(recorder, next, sender);
        Samples.AssertSame(next, ExpectMsg<Mix>(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task AfterTheReceivingNodeRestartsAtTheSameAddressTheNextMessageTakesANewConnection()
    {
        var port = FreePort();
        var first = ActorSystem.Create("restarting", RemoteConfig(Transfer, port));
        var (recorder, sender) = Connect(_sending, first);
        IgnoreMessages<string>(_ => true);
        BulkTransport.For(_sending).Send(recorder, LargeMix(1, floats: 10_000), sender);
        Assert.Equal(1, ExpectMsg<Mix>(TimeSpan.FromSeconds(5)).Round);
        await first.Terminate().WaitAsync(TimeSpan.FromSeconds(10));

        using var second = ActorSystem.Create("restarting", RemoteConfig(Transfer, port));
        second.ActorOf(Props.Create(() => new Recorder(TestActor)), "recorder");
        // Akka.Remote gates the address for a moment after the first system's end: ask until it answers.
        AwaitAssert(() => recorder = Resolve(_sending, "recorder", second, TimeSpan.FromSeconds(1)), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200));
        BulkTransport.For(_sending).Send(recorder, LargeMix(2, floats: 10_000), sender);
        Assert.Equal(2, ExpectMsg<Mix>(TimeSpan.FromSeconds(10)).Round);
    }

    [Fact]
    public void TheFrameReaderChecksTheAnnouncedLengthBeforeAllocatingAnything()
    {
        var frame = Frame(41, TestActor, LargeMix(1, floats: 1000));
        BitConverter.GetBytes(3L << 30).CopyTo(frame, 12);
        var header = new MemoryStream(frame[..(Overhead(TestActor) - 4)]);
        var reader = new StreamFrameReader(new PapaSerializer((ExtendedActorSystem)Sys), maxMessageBytes: 1 << 20);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var read = reader.Read(header);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        var failure = Assert.IsType<StreamTransferFailed>(read!.Arrival);
        Assert.Equal(41, failure.TransferId);
        Assert.Equal("the stream announced a 3221225472-byte 'mix' message, more than papa.transfer.max-message-bytes (1048576)", failure.Reason);
        Assert.False(read.ConnectionUsable);
        Assert.True(allocated < 64 * 1024, $"{allocated} bytes allocated");
    }

    [Theory]
    [InlineData("System.UriBuilder, System.Private.Uri")] // how Akka's JSON serializer names a type
    [InlineData("checkpoint")] // not a message
    public void TheFrameReaderRefusesAManifestPapaSerializerDoesNotWriteBeforeReadingItsPayload(string manifest)
    {
        var frame = Frame(43, TestActor, LargeMix(1, floats: 1000), manifest);
        var reader = new StreamFrameReader(new PapaSerializer((ExtendedActorSystem)Sys), maxMessageBytes: 1 << 20);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var read = reader.Read(new MemoryStream(frame));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        var failure = Assert.IsType<StreamTransferFailed>(read!.Arrival);
        Assert.Equal($"the stream announced a message of unknown manifest '{manifest}' (only PapaSerializer messages travel on it)", failure.Reason);
        Assert.False(read.ConnectionUsable);
        Assert.True(allocated < 64 * 1024, $"{allocated} bytes allocated");
    }

    [Fact]
    public void AnArrayTheFrameClaimsButNeverBringsAllocatesOnlyAboutWhatCame()
    {
        // A frame announcing 400 MB (under the 2 GiB default limit) whose snapshot claims 1e8 floats, of which 1000 come.
        var frame = Frame(42, TestActor, LargeMix(1, floats: 1000));
        var payloadStart = Overhead(TestActor) - 4;
        BitConverter.GetBytes(400_000_000L).CopyTo(frame, 12);
        const int floatCountOffset = 4 + 4 + 1 + 17 + 1 + 1 + 8; // round, entry count, name, kind, rank, dimension
        BitConverter.GetBytes(100_000_000).CopyTo(frame, payloadStart + floatCountOffset);
        var reader = new StreamFrameReader(new PapaSerializer((ExtendedActorSystem)Sys), maxMessageBytes: 2L << 30);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var read = reader.Read(new MemoryStream(frame[..(payloadStart + floatCountOffset + 4 + 4000)]));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.StartsWith("the stream connection closed after", Assert.IsType<StreamTransferFailed>(read!.Arrival).Reason);
        Assert.True(allocated < 4 << 20, $"{allocated} bytes allocated");
    }

    [Fact]
    public void AConnectionBeyondTheInboundLimitIsClosedAsItIsAccepted()
    {
        using var crowded = ActorSystem.Create("crowded", RemoteConfig([.. Transfer, "transfer.max-inbound-connections=2"]));
        var port = BulkTransport.For(crowded).StreamPort!.Value;
        using var first = new TcpClient("127.0.0.1", port);
        using var second = new TcpClient("127.0.0.1", port);
        using var third = new TcpClient("127.0.0.1", port);

        third.ReceiveTimeout = 5000;
        Assert.Equal(0, third.GetStream().Read(new byte[1])); // closed by the receiving node
    }

    [Fact]
    public void TheFrameReaderHandsOutNothingWhoseChecksumFailsAndReportsWhereAConnectionEnded()
    {
        var reader = new StreamFrameReader(new PapaSerializer((ExtendedActorSystem)Sys), maxMessageBytes: 1 << 20);
        var mix = LargeMix(1, floats: 1000);
        var frame = Frame(51, TestActor, mix);
        var corrupted = frame.ToArray();
        corrupted[^100] ^= 0x01;

        var stream = new MemoryStream([.. frame, .. corrupted, .. frame[..^10]]);
        Samples.AssertSame(mix, Assert.IsType<StreamPayload>(reader.Read(stream)!.Arrival).Message);
        var mismatch = reader.Read(stream)!;
        Assert.Equal("checksum mismatch: the data was corrupted on the way", Assert.IsType<StreamTransferFailed>(mismatch.Arrival).Reason);
        Assert.True(mismatch.ConnectionUsable);
        var truncated = reader.Read(stream)!;
        Assert.Equal($"the stream connection closed after {frame.Length - Overhead(TestActor) - 6} of {frame.Length - Overhead(TestActor)} bytes",
            Assert.IsType<StreamTransferFailed>(truncated.Arrival).Reason);
        Assert.False(truncated.ConnectionUsable);
        Assert.Null(reader.Read(new MemoryStream()));
    }

    [Fact]
    public void WithoutAStreamEndpointOnTheTargetNodeTheReceiverIsToldTheTransferFailedAndTheSenderGoesOn()
    {
        // No BulkReceivingActor here, so this node never started the stream path: nobody answers the port request.
        using var impatient = ActorSystem.Create("impatient", RemoteConfig(Impatient));
        Sys.ActorOf(Props.Create(() => new Forwarder(TestActor)), "plain");
        var plain = Resolve(impatient, "plain");
        var sender = impatient.ActorOf(Props.Empty);
        var transport = BulkTransport.For(impatient);

        transport.Send(plain, LargeMix(1, floats: 1000), sender);
        transport.Send(plain, new Finish(2), sender);

        var announced = ExpectMsg<StreamedMessage>();
        Assert.Equal(2, ExpectMsg<Finish>().Round);
        var failed = ExpectMsg<StreamTransferFailed>(TimeSpan.FromSeconds(5));
        Assert.Equal(announced.TransferId, failed.TransferId);
        Assert.Contains("did not tell its stream port within 1 s (papa.transfer.timeout)", failed.Reason);
    }

    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(IActorRef test) => ReceiveAny(m => test.Tell(m));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private TcpClient RawConnection() => new("127.0.0.1", BulkTransport.For(Sys).StreamPort!.Value);

    /// <summary>A frame as the stream path writes it, the payload under its own manifest or <paramref name="manifest"/>.</summary>
    private byte[] Frame(long transferId, IActorRef target, object message, string? manifest = null)
    {
        var serializer = new PapaSerializer((ExtendedActorSystem)Sys);
        using var bytes = new MemoryStream();
        new StreamFrameWriter(serializer).Write(bytes,
            new OutgoingFrame(transferId, target, ActorRefs.Nobody, message, manifest ?? serializer.Manifest(message), serializer.SizeOf(message)));
        return bytes.ToArray();
    }

    /// <summary>The bytes of a 'mix' frame around its payload: header, target path, manifest, checksum.</summary>
    private static int Overhead(IActorRef target) =>
        StreamFrame.FixedHeaderBytes + System.Text.Encoding.UTF8.GetByteCount(target.Path.ToSerializationFormat()) + "mix".Length + 4;
}
