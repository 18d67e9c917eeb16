using System.Runtime.Serialization;
using Akka.Serialization;
using Akka.TestKit.Xunit2;
using PapaActors.Actors.Messages;
using PapaActors.Actors.Serialization;
using PapaActors.Actors.Transfer;
using PapaActors.Models.Training;
using PapaActors.Testing;
using PapaActors.Tests.Support;

namespace PapaActors.Tests.Actors.Serialization;

public sealed class PapaSerializerTests() : TestKit(PapaTestKitConfig.For(TestSettings.TinyConfig(), virtualTime: false))
{
    [Fact]
    public void EveryWireMessageHasASampleAndIsBoundToThePapaSerializer()
    {
        var sampled = Samples.AllWireMessages(TestActor).Select(m => m.GetType()).ToHashSet();
        Assert.Equal(Samples.WireMessageTypes().OrderBy(t => t.Name), sampled.OrderBy(t => t.Name));
        Assert.Equal(Samples.WireMessageTypes().OrderBy(t => t.Name), PapaSerializer.SupportedTypes.OrderBy(t => t.Name));
        Assert.All(Samples.AllWireMessages(TestActor), m => Assert.IsType<PapaSerializer>(Sys.Serialization.FindSerializerFor(m)));
    }

    [Fact]
    public void EveryWireMessageRoundTripsFieldByField()
    {
        foreach (var message in Samples.AllWireMessages(TestActor))
        {
            var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(message);
            var bytes = serializer.ToBinary(message);
            Samples.AssertSame(message, serializer.FromBinary(bytes, serializer.Manifest(message)));
        }
    }

    [Fact]
    public void EveryConstructorParameterOfEveryWireMessageSurvivesTheWire()
    {
        var serializer = new PapaSerializer((Akka.Actor.ExtendedActorSystem)Sys);
        foreach (var type in Samples.WireMessageTypes())
        {
            var message = Samples.WithDistinctValues(type, TestActor);
            var manifest = serializer.Manifest(message);
            Samples.AssertSame(message, serializer.FromBinary(serializer.ToBinary(message), manifest));
        }
    }

    [Fact]
    public void ARegistrationOfAnotherProtocolVersionIsReadOnlyAsFarAsItsVersion()
    {
        var serializer = new PapaSerializer((Akka.Actor.ExtendedActorSystem)Sys);
        // A later build may encode the rest differently: here, bytes this build could not read.
        var later = BitConverter.GetBytes(WireProtocol.Version + 1).Concat(new byte[] { 0xFF, 0xFF, 0xFF }).ToArray();

        Assert.Equal(WireProtocol.Version + 1, Assert.IsType<RequestRunConfig>(serializer.FromBinary(later, "config?")).ProtocolVersion);
        Assert.Equal(WireProtocol.Version + 1, Assert.IsType<RegisterMember>(serializer.FromBinary(later, "register")).ProtocolVersion);
    }

    [Fact]
    public void WeightsTravelAsRawLittleEndianFloats()
    {
        var snapshot = Samples.Snapshot();
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(new Mix(1, snapshot, 0.5, null));
        var bytes = serializer.ToBinary(new Mix(1, snapshot, 0.5, null));

        var raw = snapshot.Values.SelectMany(BitConverter.GetBytes).ToArray();
        Assert.True(bytes.AsSpan().IndexOf(raw) >= 0, "the float values appear verbatim in the message");
        Assert.True(bytes.Length < raw.Length + 200, $"{bytes.Length} bytes for {raw.Length} bytes of floats");
        var received = Assert.IsType<Mix>(serializer.FromBinary(bytes, "mix"));
        Assert.Equal(snapshot.Values.Select(BitConverter.SingleToInt32Bits), received.Weights.Values.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void CorruptOrTruncatedBytesAreAClearError()
    {
        var message = new Trained(2, 12, 130, 0.25, 0.049, 1280, 0.8, 0.91, Samples.Snapshot());
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(message);
        var bytes = serializer.ToBinary(message);

        var truncated = Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes[..(bytes.Length - 5)], "trained"));
        Assert.Contains("corrupt 'trained' message", truncated.Message);
        var unknown = Assert.Throws<SerializationException>(() => serializer.FromBinary(bytes, "checkpoint"));
        Assert.Contains("unknown PapaSerializer manifest 'checkpoint'", unknown.Message);
        var padded = Assert.Throws<SerializationException>(() => serializer.FromBinary([.. bytes, 0], "trained"));
        Assert.Contains("1 bytes past its end", padded.Message);
    }

    [Fact]
    public void FeaturesWhoseShapeDoesNotFitTheirValuesAreACorruptMessage()
    {
        var message = new Trained(2, 12, 130, 0.25, 0.049, 1280, 0.8, 0.91, null, Features: new FeatureMatrix(4, 2, [1, 2, 3, 4, 5, 6]));
        var serializer = (SerializerWithStringManifest)Sys.Serialization.FindSerializerFor(message);

        var error = Assert.Throws<SerializationException>(() => serializer.FromBinary(serializer.ToBinary(message), "trained"));

        Assert.Contains("corrupt 'trained' message", error.Message);
        Assert.Contains("a feature matrix of 4 x 2 with 6 values", error.Message);
    }

    [Fact]
    public void UnknownMessageTypesAreRefusedByName()
    {
        var serializer = new PapaSerializer((Akka.Actor.ExtendedActorSystem)Sys);
        var error = Assert.Throws<SerializationException>(() => serializer.Manifest(new TransferFailed("x", 1, "y")));
        Assert.Contains("cannot serialize PapaActors.Actors.Transfer.TransferFailed", error.Message);
    }
}
