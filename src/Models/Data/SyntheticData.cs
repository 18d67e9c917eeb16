namespace PapaActors.Models.Data;

/// <summary>
/// A small learnable dataset for tests and benchmarks: each class has a random prototype image and
/// samples are the prototype plus noise. Fully determined by the seed.
/// </summary>
public static class SyntheticData
{
    public sealed record Generated(byte[] Images, byte[] Labels);

    public static Generated Generate(int count, ImageShape shape, int classes, int seed, double noise = 40)
    {
        var random = new Random(seed);
        var prototypes = Enumerable.Range(0, classes)
            .Select(_ => Enumerable.Range(0, shape.Pixels).Select(_ => random.NextDouble() * 255).ToArray())
            .ToArray();
        var images = new byte[count * shape.Pixels];
        var labels = new byte[count];
        for (var i = 0; i < count; i++)
        {
            var label = i % classes;
            labels[i] = (byte)label;
            for (var p = 0; p < shape.Pixels; p++)
            {
                // Box-Muller normal noise; System.Random(seed) is a stable generator across runs.
                var gaussian = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                images[i * shape.Pixels + p] = (byte)Math.Clamp(prototypes[label][p] + noise * gaussian, 0, 255);
            }
        }
        return new Generated(images, labels);
    }
}
