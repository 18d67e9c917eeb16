using System.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Data;

/// <summary>Loads a <see cref="DatasetSpec"/> into <see cref="DataSplits"/>.</summary>
public static class DatasetLoader
{
    public static DataSplits Load(DatasetSpec spec)
    {
        if (spec.HeldOutFraction is < 0 or >= 1)
            throw new ArgumentException($"held-out fraction must be in [0, 1), got {spec.HeldOutFraction}");
        var splits = LoadSplits(spec);
        // Reading left several copies of the data in large managed arrays, and training allocates too little
        // managed memory to ever collect them: hand them back to the OS now (~150 MB for CIFAR-10).
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect();
        return splits;
    }

    private static DataSplits LoadSplits(DatasetSpec spec)
    {
        // Every intermediate tensor dies with this scope; only the returned splits are kept.
        using var scope = NewDisposeScope();
        var (train, test) = spec.Name switch
        {
            "fashion-mnist" or "mnist" => LoadIdx(spec),
            "cifar10" => LoadCifar(spec, 10, CifarReader.Cifar10TrainFiles, CifarReader.Cifar10TestFiles),
            "cifar100" => LoadCifar(spec, 100, CifarReader.Cifar100TrainFiles, CifarReader.Cifar100TestFiles),
            "synthetic" => LoadSynthetic(spec),
            _ => throw new ArgumentException($"unknown dataset '{spec.Name}' (known: {string.Join(", ", DatasetSpec.Names)})"),
        };
        var limitedTrain = train.Take(spec.TrainLimit, spec.Name + "/train");
        var heldOutCount = (long)Math.Round(limitedTrain.Count * spec.HeldOutFraction);
        if (spec.HeldOutFraction > 0 && heldOutCount == 0)
            heldOutCount = 1;
        using var generator = new Generator().manual_seed(spec.Seed);
        var order = randperm(limitedTrain.Count, generator: generator);
        var splits = new DataSplits(
            limitedTrain.Select(order[(int)heldOutCount..].sort().Values, spec.Name + "/train"),
            limitedTrain.Select(order[..(int)heldOutCount].sort().Values, spec.Name + "/held-out"),
            test.Take(spec.TestLimit, spec.Name + "/test"),
            spec.ReferenceNormalization ? DataSplits.ReferenceNormalization(spec.Name) : null);
        return splits.DetachFromDisposeScope();
    }

    private static (ImageDataset Train, ImageDataset Test) LoadIdx(DatasetSpec spec)
    {
        ImageDataset Read(string images, string labels, string split)
        {
            var imageArray = IdxReader.Read(Path.Combine(spec.Path, images), 3);
            var labelArray = IdxReader.Read(Path.Combine(spec.Path, labels), 1);
            if (imageArray.Dimensions[0] != labelArray.Dimensions[0])
                throw new DatasetFormatException(Path.Combine(spec.Path, labels),
                    $"has {labelArray.Dimensions[0]} labels but {images} has {imageArray.Dimensions[0]} images");
            var shape = new ImageShape(1, imageArray.Dimensions[1], imageArray.Dimensions[2]);
            return FromBytes($"{spec.Name}/{split}", imageArray.Data, labelArray.Data, shape, 10, Path.Combine(spec.Path, labels));
        }
        return (Read("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "train"),
                Read("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "test"));
    }

    private static (ImageDataset, ImageDataset) LoadCifar(DatasetSpec spec, int classes, string[] trainFiles, string[] testFiles)
    {
        if (!Directory.Exists(spec.Path))
            throw new DatasetFormatException(spec.Path, $"folder not found (CIFAR-{classes} binary version expected here)");
        var shape = new ImageShape(3, 32, 32);
        var train = CifarReader.Read(spec.Path, trainFiles, classes);
        var test = CifarReader.Read(spec.Path, testFiles, classes);
        return (FromBytes($"{spec.Name}/train", train.Images, train.Labels, shape, classes, spec.Path),
                FromBytes($"{spec.Name}/test", test.Images, test.Labels, shape, classes, spec.Path));
    }

    private static (ImageDataset, ImageDataset) LoadSynthetic(DatasetSpec spec)
    {
        var shape = new ImageShape(1, spec.SyntheticSize, spec.SyntheticSize);
        var trainCount = spec.TrainLimit > 0 ? spec.TrainLimit : 2000;
        var testCount = spec.TestLimit > 0 ? spec.TestLimit : 500;
        // Train and test share prototypes (same seed) but not samples: the test set is a later stretch of the stream.
        var all = SyntheticData.Generate((int)(trainCount + testCount), shape, 10, spec.Seed);
        var train = all.Images.AsSpan(0, (int)trainCount * shape.Pixels).ToArray();
        var test = all.Images.AsSpan((int)trainCount * shape.Pixels).ToArray();
        return (FromBytes("synthetic/train", train, all.Labels[..(int)trainCount], shape, 10, "synthetic"),
                FromBytes("synthetic/test", test, all.Labels[(int)trainCount..], shape, 10, "synthetic"));
    }

    private static ImageDataset FromBytes(string name, byte[] images, byte[] labels, ImageShape shape, int classes, string source)
    {
        var count = labels.Length;
        if (images.Length != (long)count * shape.Pixels)
            throw new DatasetFormatException(source, $"{images.Length} pixel bytes do not make {count} images of {shape}");
        if (labels.Any(l => l >= classes))
            throw new DatasetFormatException(source, $"a label is outside 0..{classes - 1}");
        var imageTensor = tensor(images, [count, shape.Channels, shape.Height, shape.Width], ScalarType.Byte);
        var labelTensor = tensor(labels, [count], ScalarType.Byte).to_type(ScalarType.Int64);
        return new ImageDataset(name, imageTensor, labelTensor, classes);
    }
}
