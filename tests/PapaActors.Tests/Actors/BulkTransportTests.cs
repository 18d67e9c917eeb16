using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Serialization;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Weights;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors;

public sealed class BulkTransportTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig("transfer.chunk-bytes=1KiB"), virtualTime: false))
{
    private static MemberFinal LargeMessage() =>
        new(2, WeightSnapshot.FromOwned(Samples.Snapshot().Layout, new float[9]), 0.9, 0.91, [.. Enumerable.Range(0, 2000).Select(i => i * 0.5f)]);

    [Fact]
    public void ChunksReassembleIntoTheOriginalMessage()
    {
        var transport = BulkTransport.For(Sys);
        var chunks = transport.Split(LargeMessage());
        Assert.Equal(8, chunks.Count); // ~8 KB of logits in 1 KiB chunks
        Assert.All(chunks, c => Assert.True(c.Data.Length <= 1024));

        var assembler = transport.CreateAssembler();
        var delivered = chunks.SelectMany(c => assembler.Accept(c, TestActor)).ToList();
        Samples.AssertSame(LargeMessage(), Assert.Single(delivered));
    }

    [Fact]
    public void ALostChunkIsReportedAndNothingIsDelivered()
    {
        var transport = BulkTransport.For(Sys);
        var chunks = transport.Split(LargeMessage()).ToList();
        chunks.RemoveAt(3);

        var assembler = transport.CreateAssembler();
        var delivered = chunks.SelectMany(c => assembler.Accept(c, TestActor)).ToList();

        var failure = Assert.IsType<TransferFailed>(Assert.Single(delivered));
        Assert.Contains("chunk 4 arrived where chunk 3 of transfer", failure.Reason);
    }

    [Fact]
    public void ACorruptedChunkFailsTheChecksum()
    {
        var transport = BulkTransport.For(Sys);
        var chunks = transport.Split(LargeMessage()).ToList();
        chunks[5].Data[100] ^= 0x40;

        var assembler = transport.CreateAssembler();
        var delivered = chunks.SelectMany(c => assembler.Accept(c, TestActor)).ToList();

        var failure = Assert.IsType<TransferFailed>(Assert.Single(delivered));
        Assert.Contains("checksum mismatch", failure.Reason);
    }

    [Fact]
    public void AnAbandonedTransferIsReportedWhenTheNextBegins()
    {
        var transport = BulkTransport.For(Sys);
        var first = transport.Split(LargeMessage());
        var second = transport.Split(LargeMessage());

        var assembler = transport.CreateAssembler();
        var delivered = first.Take(2).Concat(second).SelectMany(c => assembler.Accept(c, TestActor)).ToList();

        Assert.Equal(2, delivered.Count);
        Assert.Contains("abandoned after 2 of 8 chunks", Assert.IsType<TransferFailed>(delivered[0]).Reason);
        Samples.AssertSame(LargeMessage(), delivered[1]);
    }

    [Fact]
    public void AChunkAnnouncingTwoGigabytesAllocatesNothingAndIsDroppedWhenTheRestNeverComes()
    {
        var clock = new ManualClock();
        var assembler = BulkTransport.For(Sys).CreateAssembler(clock);
        var forged = new MessageChunk(7, 0, 2000, 2_000_000_000, 0, PapaSerializer.Id, "mix", new byte[16]);

        var before = GC.GetAllocatedBytesForCurrentThread();
        var delivered = assembler.Accept(forged, TestActor);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Empty(delivered);
        Assert.True(allocated < 64 * 1024, $"{allocated} bytes allocated");
        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty(assembler.Expire());
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("no chunk for 60 s after 1 of 2000 (papa.transfer.timeout)", Assert.Single(assembler.Expire()).Reason);
        Assert.False(assembler.HasPending);
    }

    [Fact]
    public void ChunksOfAnotherSerializerOrAnUnknownManifestAreRefused()
    {
        var assembler = BulkTransport.For(Sys).CreateAssembler();
        var json = new MessageChunk(8, 0, 1, 16, 0, 1, "System.UriBuilder, System.Private.Uri", new byte[16]);
        var unknown = new MessageChunk(9, 0, 1, 16, 0, PapaSerializer.Id, "checkpoint", new byte[16]);

        Assert.Equal("serializer id 1 refused: chunks carry PapaSerializer (7101) messages only",
            Assert.IsType<TransferFailed>(Assert.Single(assembler.Accept(json, TestActor))).Reason);
        Assert.Equal("unknown manifest 'checkpoint' refused: chunks carry PapaSerializer messages only",
            Assert.IsType<TransferFailed>(Assert.Single(assembler.Accept(unknown, TestActor))).Reason);
    }

    [Fact]
    public void ATrainWhoseSenderStopsIsDroppedBeforeTheTimeout()
    {
        var sender = Sys.ActorOf(Props.Empty);
        var receiver = Sys.ActorOf(Props.Create(() => new Watcher(TestActor, sender)));
        foreach (var chunk in BulkTransport.For(Sys).Split(LargeMessage()).Take(2))
            receiver.Tell(chunk, sender);

        Sys.Stop(sender);

        Assert.Equal($"its sender {sender.Path} is gone after 2 of 8 chunks", ExpectMsg<TransferFailed>().Reason);
        ExpectMsg($"terminated {sender.Path}"); // and then the subclass still hears of it
    }

    /// <summary>Watches <paramref name="watched"/> and tells the test everything it handles (a Terminated as text: one told to an actor that does not watch the stopped one is dropped).</summary>
    private sealed class Watcher : BulkReceivingActor
    {
        public Watcher(IActorRef test, IActorRef watched)
        {
            Context.Watch(watched);
            Receive<Terminated>(t => test.Tell($"terminated {t.ActorRef.Path}"));
            ReceiveAny(test.Tell);
        }
    }

    /// <summary>A clock that moves only when the test says.</summary>
    private sealed class ManualClock : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Advance(TimeSpan by) => _ticks += by.Ticks;
    }

    [Fact]
    public void TheInboundConnectionLimitMustBePositive()
    {
        var error = Assert.ThrowsAny<Exception>(() => TestSettings.Tiny("transfer.max-inbound-connections=0"));
        Assert.Contains("'papa.transfer.max-inbound-connections' = '0' is not allowed", error.Message);
    }

    [Fact]
    public void ChunkSizeMustFitTheRemoteFrame()
    {
        using var system = (PapaTestKitConfig.Setup(TestSettings.TinyConfig("transfer.chunk-bytes=512KiB"), virtualTime: false) with
        {
            Overrides = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.maximum-frame-size = 128000b"),
        }).Create("frames");

        var error = Assert.ThrowsAny<Exception>(() => BulkTransport.For(system));
        Assert.Contains("'papa.transfer.chunk-bytes' (524288) plus 4096 bytes of envelope must fit in 'akka.remote.dot-netty.tcp.maximum-frame-size' (128000)", error.ToString());
    }
}
