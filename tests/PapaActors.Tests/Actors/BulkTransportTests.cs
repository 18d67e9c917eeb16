using Akka.Configuration;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Weights;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors;

public sealed class BulkTransportTests() : TestKit(TestSettings.ActorTestConfig(TestSettings.TinyConfig("transfer.chunk-bytes=1KiB")))
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
    public void ChunkSizeMustFitTheRemoteFrame()
    {
        using var system = (TestSettings.ActorTestSetup(TestSettings.TinyConfig("transfer.chunk-bytes=512KiB")) with
        {
            Overrides = ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.maximum-frame-size = 128000b"),
        }).Create("frames");

        var error = Assert.ThrowsAny<Exception>(() => BulkTransport.For(system));
        Assert.Contains("'papa.transfer.chunk-bytes' (524288) plus 4096 bytes of envelope must fit in 'akka.remote.dot-netty.tcp.maximum-frame-size' (128000)", error.ToString());
    }
}
